"""The engine against the chapter's hand-derived formulas (A), (B) and the bias formulas."""

from __future__ import annotations

import math

from hypothesis import given

from microgrsucc.cli import chapter
from microgrsucc.testing import central_difference
from microgrsucc.testing.strategies import reals

weights = reals(-4, 4)
inputs = reals(-3, 3)
targets = reals(0, 1)
ORDER = ("x", "y", "w1", "b1", "w2", "b2")


def cost(x: float, y: float, w1: float, b1: float, w2: float, b2: float) -> float:
    """C computed directly in float64, independent of the engine and of the formulas."""
    a1 = 1.0 / (1.0 + math.exp(-(w1 * x + b1)))
    a2 = 1.0 / (1.0 + math.exp(-(w2 * a1 + b2)))
    return 0.5 * (y - a2) ** 2


@given(inputs, targets, weights, weights, weights, weights)
def test_backward_matches_formulas_A_B_and_the_biases(
    x: float, y: float, w1: float, b1: float, w2: float, b2: float
) -> None:
    net = chapter.network(x, y, w1, b1, w2, b2)
    net.C.backward()
    expected = chapter.formulas(x, y, w1, b1, w2, b2)
    engine = {"w2": net.w2.grad, "w1": net.w1.grad, "b2": net.b2.grad, "b1": net.b1.grad}
    for name, value in engine.items():
        assert math.isclose(value, expected[name], rel_tol=1e-9, abs_tol=1e-12), (name, value, expected[name])


@given(inputs, targets, weights, weights, weights, weights)
def test_the_formulas_themselves_match_finite_differences(
    x: float, y: float, w1: float, b1: float, w2: float, b2: float
) -> None:
    args = [x, y, w1, b1, w2, b2]
    expected = chapter.formulas(*args)
    for name in ("w1", "b1", "w2", "b2"):
        numeric = central_difference(cost, args, ORDER.index(name), 1e-6)
        assert math.isclose(expected[name], numeric, rel_tol=1e-5, abs_tol=1e-8), name


def test_the_default_example_values() -> None:
    net = chapter.network(**chapter.DEFAULTS)
    net.C.backward()
    assert math.isclose(net.C.data, cost(*(chapter.DEFAULTS[k] for k in ORDER)), rel_tol=1e-12)
    assert net.a2.label == "a2" and net.C.label == "C"
    assert net.w1.grad != 0.0 and net.w2.grad != 0.0
