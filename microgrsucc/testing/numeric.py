"""Central finite differences in float64: the independent reference for gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["central_difference"]


def central_difference(f: Callable[..., float], args: Sequence[float], i: int, eps: float = 1e-6) -> float:
    """(f(x + eps) - f(x - eps)) / (2 eps) in argument ``i``, on plain floats.

    >>> round(central_difference(lambda x, y: x * y, [3.0, 4.0], 0), 6)
    4.0
    """
    up = list(args)
    down = list(args)
    up[i] += eps
    down[i] -= eps
    return (f(*up) - f(*down)) / (2.0 * eps)
