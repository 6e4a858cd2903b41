"""Central finite differences in float64: the independent reference for gradients, and
where they can judge one (``differences_agree``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["central_difference", "differences_agree", "extrapolated_difference"]


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


def extrapolated_difference(f: Callable[..., float], xs: Sequence[float], i: int, step: float) -> float:
    """Central differences at ``step`` with their ``step**2`` error taken out (Richardson, from
    the differences at ``10 * step``): near the edge of a domain (sqrt at 1e-3, log1p at
    -0.999) that error alone is above ``rtol`` of the slope, and a right derivative failed."""
    near = central_difference(f, xs, i, step)
    return near + (near - central_difference(f, xs, i, 10.0 * step)) / 99.0


def differences_agree(
    f: Callable[..., float], args: Sequence[float], i: int, eps: float = 1e-6, rtol: float = 1e-4
) -> bool:
    """True where central differences in argument ``i`` can judge a derivative.

    Steps of ``eps`` and ``10 * eps`` (scaled by ``max(1, |x|)``) must give the same slope to
    ``rtol``; where they disagree (a kink within the step, cancellation in a saturated
    function, the edge of the domain), float64 differences are no reference at all. Nor are
    they where rounding ``f`` alone, ``|f(x)| * 2**-52 / step``, could move the slope by more
    than ``rtol`` of it (a large value whose change over the step is a few ulps: two steps
    can then agree on 0 where the slope is not 0), nor at a kink exactly at the point
    (relu at 0, hypot at (0, 0)): central differences average the two one-sided slopes
    there, the same at every step, so the one-sided slopes are compared too (their gap
    shrinks with the step where ``f`` is smooth, and stays where it has a kink). Argument
    ``i`` may be ``-1`` for every argument.

    >>> import math
    >>> differences_agree(math.sqrt, [1.0], 0), differences_agree(math.sqrt, [1e-6], 0)
    (True, False)
    >>> differences_agree(lambda x: max(x, 0.0), [0.0], 0)
    False
    """
    try:
        size = abs(float(f(*args)))
    except (ArithmeticError, ValueError):
        return False
    for k in range(len(args)) if i == -1 else (i,):
        step = eps * max(1.0, abs(args[k]))
        try:
            near, far = central_difference(f, args, k, step), central_difference(f, args, k, 10.0 * step)
        except (ArithmeticError, ValueError):  # a step left the domain
            return False
        # Slopes near 0 agree to what rounding f leaves of them, not to a fixed 1e-6: sin at
        # -1.74e10 steps 1.7e4, which aliases its period, and two steps gave 2.24e-6 and 2.14e-6
        # where the slope is -0.77.
        noise = size * 2.0**-52 / step
        if not (math.isfinite(near) and math.isclose(near, far, rel_tol=rtol, abs_tol=64.0 * noise)):
            return False
        if noise > rtol * max(abs(near), 1e-2):
            return False
        if _kink(f, args, k, step, rtol):
            return False
    return True


def _kink(f: Callable[..., float], args: Sequence[float], k: int, step: float, rtol: float) -> bool:
    """Whether ``f`` has a kink at ``args`` in argument ``k`` big enough to move central
    differences by ``rtol`` of the slope: the gap between its forward and backward
    differences is ``step * f''`` where ``f`` is smooth (ten times wider at ten times the
    step), and the jump of the slope at a kink (the same at both steps)."""
    up, down = list(args), list(args)

    def gap(h: float) -> tuple[float, float, float]:
        up[k], down[k] = args[k] + h, args[k] - h
        fu, f0, fd = f(*up), f(*args), f(*down)
        # Rounding alone moves the gap by about this much: of f's values, and of x ± h
        # (an ulp of x, times the slope).
        noise = (max(abs(fu), abs(f0), abs(fd)) + abs(fu - fd) / (2.0 * h) * abs(args[k])) * 2.0**-52 / h
        return abs(fu - 2.0 * f0 + fd) / h, abs(fu - fd) / (2.0 * h), noise

    try:
        (near, slope, noise), (far, _, _) = gap(step), gap(10.0 * step)
    except (ArithmeticError, ValueError):
        return True
    return near > max(64.0 * noise, rtol * max(slope, 1e-2)) and far < 5.0 * near
