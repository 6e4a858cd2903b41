"""Central finite differences in float64: the independent reference for gradients."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["central_difference", "differences_are_stable"]


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


def differences_are_stable(f: Callable[..., Any], args: Sequence[float], eps: float = 1e-6) -> bool:
    """False where float64 central differences cannot judge a derivative at ``args``.

    Two step sizes (``eps`` and ``10 * eps``) must agree: where they don't, rounding has
    cancelled the digits the difference needs (a saturated tanh under a large exp, or
    ``x - x`` computed as two large terms), and a mismatch says nothing about the engine.

    >>> differences_are_stable(lambda x: x * x, [3.0])
    True
    """

    def number(*xs: float) -> float:
        out = f(*xs)
        return float(getattr(out, "data", out))

    for i in range(len(args)):
        a, b = central_difference(number, args, i, eps), central_difference(number, args, i, 10 * eps)
        if not math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6):
            return False
    return True
