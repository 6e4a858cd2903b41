"""make_moons: sizes, labels, reproducibility and the shape of the two moons."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrsucc.datasets import make_moons


@given(st.integers(2, 300))
def test_sizes_and_balanced_labels(n: int) -> None:
    X, y = make_moons(n, seed=0)
    assert len(X) == len(y) == n
    assert all(len(p) == 2 for p in X)
    assert y.count(0) == n // 2
    assert y.count(1) == n - n // 2


def test_without_noise_the_points_lie_on_the_two_half_circles() -> None:
    X, y = make_moons(40, noise=0.0, seed=0)
    for (u, v), label in zip(X, y, strict=True):
        cx, cy = (0.0, 0.0) if label == 0 else (1.0, 0.5)
        assert math.hypot(u - cx, v - cy) == pytest.approx(1.0)
        assert (v >= -1e-12) if label == 0 else (v <= 0.5 + 1e-12)  # upper / lower half


def test_noise_moves_points_off_the_circles_by_about_its_size() -> None:
    X, y = make_moons(400, noise=0.1, seed=0)
    centres = {0: (0.0, 0.0), 1: (1.0, 0.5)}
    offsets = [math.hypot(u - centres[t][0], v - centres[t][1]) - 1.0 for (u, v), t in zip(X, y, strict=True)]
    spread = math.sqrt(sum(d * d for d in offsets) / len(offsets))
    assert 0.05 < spread < 0.15


def test_seed_makes_it_reproducible_and_the_order_is_shuffled() -> None:
    assert make_moons(50, seed=3) == make_moons(50, seed=3)
    assert make_moons(50, seed=random.Random(3)) == make_moons(50, seed=3)
    assert make_moons(50, seed=3) != make_moons(50, seed=4)
    _, y = make_moons(50, seed=3)
    assert y != sorted(y)


@pytest.mark.parametrize(("n", "noise", "message"), [(1, 0.1, "n_samples >= 2"), (10, -0.1, "noise >= 0")])
def test_bad_arguments_raise(n: int, noise: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_moons(n, noise=noise)
