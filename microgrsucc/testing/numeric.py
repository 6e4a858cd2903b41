"""Central finite differences in float64: the independent reference for gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["central_difference"]


def central_difference(f: Callable[..., float], args: Sequence[float], i: int, eps: float = 1e-6) -> float:
    """(f(x + eps) - f(x - eps)) / (2 eps) in argument ``i``, on plain floats.

    An error of ``f`` at a step is raised again, of the same type, saying that the point it
    failed at is ``x ± eps`` (a point within eps of the edge of f's domain).

    >>> round(central_difference(lambda x, y: x * y, [3.0, 4.0], 0), 6)
    4.0
    """
    up = list(args)
    down = list(args)
    up[i] += eps
    down[i] -= eps
    try:
        return (f(*up) - f(*down)) / (2.0 * eps)
    except (ArithmeticError, ValueError) as err:
        raise type(err)(
            f"central differences in argument {i} evaluate f at {args[i]!r} \u00b1 eps (eps={eps!r}), "
            f"that is at {down[i]!r} and {up[i]!r}, and f fails there: {err}. Choose a smaller "
            "eps, or a point farther than eps from the edge of f's domain"
        ) from err
