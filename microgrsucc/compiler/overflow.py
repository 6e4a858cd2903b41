"""Where a float power passes the float range: the exact thresholds ``nodes._power`` branches on."""

from __future__ import annotations

import math
import sys
from functools import lru_cache

__all__ = ["overflow_threshold"]


@lru_cache(maxsize=256)
def overflow_threshold(n: float) -> float | None:
    """For n > 1 the largest float t with t ** n finite, for n < 0 the smallest positive one;
    None where no finite nonzero base overflows (0 <= n <= 1, n infinite or NaN, or every
    positive float fits). Found exactly, by Python's own pow, from the estimate DBL_MAX ** (1/n),
    which is a few hundred ulps off at most."""
    if not (math.isfinite(n) and (n > 1.0 or n < 0.0)):
        return None

    def fits(t: float) -> bool:
        try:
            return math.isfinite(t**n)
        except OverflowError:
            return False

    up = math.inf if n > 0.0 else 0.0  # the way towards overflow
    down = 0.0 if n > 0.0 else math.inf
    t: float = sys.float_info.max ** (1.0 / n)
    if t == 0.0:
        t = math.nextafter(0.0, 1.0)  # the estimate underflowed: start from the smallest float
    while not fits(t):
        t = math.nextafter(t, down)
    while True:
        step = math.nextafter(t, up)
        if step == up:
            return None  # every positive float fits (n < 0 near 0: 5e-324 ** -0.5 is finite)
        if not fits(step):
            return t
        t = step
