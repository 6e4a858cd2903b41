"""Toy data sets for examples and tests, in pure Python.

>>> X, y = make_moons(100, noise=0.1, seed=1)
>>> len(X), sorted(set(y)), y.count(1)
(100, [0, 1], 50)
"""

from __future__ import annotations

import math
import random

__all__ = ["make_moons"]


def make_moons(
    n_samples: int = 100, *, noise: float = 0.1, seed: int | random.Random | None = None
) -> tuple[list[tuple[float, float]], list[int]]:
    """Two interleaved half-circles, as scikit-learn's ``make_moons`` (shuffled).

    Class 0 is the upper moon ``(cos t, sin t)``, class 1 the lower one
    ``(1 - cos t, 0.5 - sin t)``, for ``t`` evenly spaced in [0, pi]; each coordinate gets
    Gaussian noise of standard deviation ``noise``. Returns the points and their labels.
    """
    if n_samples < 2:
        raise ValueError(f"make_moons needs n_samples >= 2 (one point per moon), got {n_samples}")
    if not noise >= 0.0:
        raise ValueError(f"make_moons needs noise >= 0, got {noise}")
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    samples: list[tuple[float, float, int]] = []
    for n, label in ((n_upper, 0), (n_lower, 1)):
        for i in range(n):
            t = math.pi * i / (n - 1) if n > 1 else 0.0
            x, y = (math.cos(t), math.sin(t)) if label == 0 else (1.0 - math.cos(t), 0.5 - math.sin(t))
            samples.append((x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise), label))
    rng.shuffle(samples)
    return [(x, y) for x, y, _ in samples], [label for _, _, label in samples]
