"""gradcheck and gradgradcheck: pass random graphs, catch wrong derivatives and name them.

Each built-in op on its own is checked in tests/test_conformance.py."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import custom_op
from microgrsucc.testing import (
    ConformanceError,
    GradcheckError,
    central_difference,
    check_primitive,
    differences_agree,
    gradcheck,
    gradgradcheck,
)
from microgrsucc.testing.strategies import Graph, graphs


@given(graphs())
def test_gradcheck_and_gradgradcheck_pass_random_graphs(f: Graph) -> None:
    # Where two step sizes disagree (a saturated tanh under a large exp cancels away the
    # digits a difference needs), float64 differences cannot judge.
    assume(differences_agree(lambda *xs: f(*xs).data, f.inputs, -1))
    assume(all(differences_agree(mg.grad(f, argnums=i), f.inputs, -1) for i in range(len(f.inputs))))
    assert gradcheck(f, *f.inputs)
    assert gradgradcheck(f, *f.inputs)


def test_a_wrong_derivative_is_reported_with_its_argument_and_size() -> None:
    # d/dy (x * y) is x, not 2x: argument 1 is wrong, argument 0 is right.
    wrong = custom_op("wrong_mul", lambda x, y: x * y, lambda F, x, y, out: (y, 2 * x))
    with pytest.raises(GradcheckError) as caught:
        gradcheck(wrong, 1.5, 2.0)
    message = str(caught.value)
    assert "gradcheck: the derivative in argument 1 is wrong at (1.5, 2.0)" in message
    assert "the engine gives 3.0" in message and "off by 1.5" in message
    assert isinstance(caught.value, RuntimeError)  # as torch's GradcheckError
    assert gradcheck(wrong, 1.5, 2.0, raise_exception=False) is False
    assert gradcheck(wrong, 0.0, 2.0)  # 2x == x at x == 0: a check is only as good as its points


def test_tolerances_follow_pytorch() -> None:
    defaults = {
        name: p.default
        for name, p in inspect.signature(gradcheck).parameters.items()
        if p.default is not p.empty
    }
    assert defaults == {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-3, "raise_exception": True}
    # Off by 0.05% of a derivative of 1: inside rtol=1e-3, outside rtol=1e-4.
    slightly = custom_op("slightly", lambda x: x, 1.0005)
    assert gradcheck(slightly, 0.5)
    assert not gradcheck(slightly, 0.5, rtol=1e-4, raise_exception=False)


def test_gradgradcheck_names_the_pair_of_arguments() -> None:
    # Right first derivatives; the second derivative in (x, y) is dropped by F.value.
    f = custom_op("xy2", lambda x, y: x * y * y, lambda F, x, y, out: (y * y, 2 * F.value(x) * y))
    assert gradcheck(f, 1.5, 2.0)
    with pytest.raises(GradcheckError, match="second derivative in arguments 1 and 0 is wrong"):
        gradgradcheck(f, 1.5, 2.0)
    assert gradgradcheck(f, 1.5, 2.0, raise_exception=False) is False


def test_a_nan_derivative_fails() -> None:
    nan = custom_op("nan_slope", lambda x: x, lambda F, x, out: math.nan)
    assert gradcheck(nan, 1.0, raise_exception=False) is False


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: gradcheck(mg.sin), TypeError, "at least one argument"),
        (lambda: gradcheck(mg.sin, mg.Value(1.0)), TypeError, "argument 0 must be a plain number"),
        (lambda: gradcheck(mg.sin, 1.0, eps=0.0), ValueError, "eps must be a finite number > 0"),
        (lambda: gradgradcheck(mg.sin, "1"), TypeError, "gradgradcheck: argument 0 expects a real number"),  # type: ignore[arg-type]
    ],
)
def test_mistakes_are_named(call: object, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as caught:
        call()  # type: ignore[operator]
    assert words in str(caught.value), str(caught.value)


def test_a_point_within_eps_of_the_domains_edge_is_named_as_the_step() -> None:
    words = r"central differences in argument 0 evaluate f at 5e-07 ± eps"
    with pytest.raises(ValueError, match=words) as caught:
        gradcheck(mg.sqrt, 5e-7)
    assert "sqrt(-5e-07)" in str(caught.value) and "smaller eps" in str(caught.value)
    assert gradcheck(mg.sqrt, 5e-7, eps=1e-9)  # a step inside the domain judges it


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
@pytest.mark.parametrize(
    ("option", "words"),
    [
        ({"eps": math.inf}, "eps must be a finite number > 0, got inf"),
        ({"eps": -1e-6}, "eps must be a finite number > 0"),
        ({"eps": math.nan}, "eps must be a finite number > 0, got nan"),
        ({"atol": -1e-5}, "atol must be a finite number >= 0, got -1e-05"),
        ({"atol": math.inf}, "atol must be a finite number >= 0"),
        ({"rtol": math.nan}, "rtol must be a finite number >= 0, got nan"),
    ],
)
def test_a_step_or_tolerance_no_check_could_use_is_refused_up_front(
    check: object, option: dict[str, float], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        check(mg.sqrt, 1.0, **option)  # type: ignore[operator]


# Points near a domain's edge, where the step**2 error of plain central differences at
# eps = 1e-6 is above check_primitive's rtol (sqrt at 1e-3: 1.2e-7 of the slope), and
# kinks exactly at the point, where central differences average the one-sided slopes.
_EDGE_POINTS = [
    ("sqrt", (1e-3,)),
    ("asin", (0.999,)),
    ("log1p", (-0.999,)),
    ("acos", (-0.999,)),
    ("relu", (0.0,)),
    ("abs", (0.0,)),
    ("hypot", (0.0, 0.0)),
    ("leaky_relu", (0.0,)),
]


@pytest.mark.parametrize(("name", "point"), _EDGE_POINTS)
def test_check_primitive_passes_the_tables_ops_at_domain_edges_and_kinks(
    name: str, point: tuple[float, ...]
) -> None:
    judged = check_primitive(mg.ops.PRIMITIVES[name], *point)
    assert "forward" in judged and "nan" in judged


def test_check_primitive_still_catches_a_small_error_near_a_domains_edge() -> None:
    # sqrt's slope 1 / (2 sqrt(x)) off by a relative 1e-6 at x = 1e-3, ten times check_primitive's rtol
    slope = 1.0 / (2.0 * math.sqrt(1e-3))
    wrong = custom_op("sqrt_off", math.sqrt, lambda F, x, out: (1.0 + 1e-6) * 0.5 / out)
    with pytest.raises(ConformanceError, match="reverse mode gives d/dx0"):
        check_primitive(wrong, 1e-3)
    right = custom_op("sqrt_right", math.sqrt, lambda F, x, out: 0.5 / out)
    assert right(mg.Value(1e-3)).data == math.sqrt(1e-3) and "reverse" in check_primitive(right, 1e-3)
    assert math.isclose(mg.grad(right)(1e-3), slope, rel_tol=1e-15)


def test_differences_cannot_judge_at_a_kink_but_can_at_a_smooth_minimum() -> None:
    assert not differences_agree(lambda x: max(x, 0.0), [0.0], 0)  # relu at 0: slopes 0 and 1
    assert not differences_agree(lambda x, y: math.hypot(x, y), [0.0, 0.0], -1)  # a cone's tip
    assert differences_agree(lambda x: x * x, [0.0], 0)  # slope 0, smooth: differences judge
    assert differences_agree(lambda x: math.cos(x), [0.0], 0)
    # x - y where it is 0: rounding x +- step is no kink, whatever the size of f there
    assert differences_agree(lambda x, y: x - y, [2.0, 2.0], -1)
    assert differences_agree(lambda x, y: x - y, [1e5, 1e5], -1)


@given(
    x=st.floats(1e9, 1e15) | st.floats(-1e15, -1e9),
    slope=st.sampled_from([1.0, -3.0, 0.5, 7.25]),
)
def test_the_documented_recipe_passes_a_right_derivative_at_large_magnitudes(x: float, slope: float) -> None:
    # docs/testing.md: assume(differences_agree(...)) then gradcheck. differences_agree steps
    # eps * max(1, |x|); a fixed step of 1e-6 at |x| = 1e10 is x + 1.9e-6 (the spacing of
    # floats there), and gave the slope of x as 1.9 (closed form: 1).
    def f(v: Any) -> Any:
        return v * slope + 2.0

    assume(differences_agree(lambda v: f(v), [x], -1))
    assert gradcheck(f, x)
    assert gradgradcheck(lambda v: v * v * slope, x)  # d/dx of 2 slope x is 2 slope, exactly


# Closed forms: a function and its derivative.
_SLOPES: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "sin": (math.sin, math.cos),
    "cos": (math.cos, lambda x: -math.sin(x)),
    "atan": (math.atan, lambda x: 1.0 / (1.0 + x * x)),
    "x**3": (lambda x: x**3, lambda x: 3.0 * x * x),
}


@example(name="sin", x=-17416938742.44464)  # the step 1.7e4 aliases sin's period
@example(name="cos", x=915196385384.4443)
@given(name=st.sampled_from(sorted(_SLOPES)), x=st.floats(-1e12, 1e12) | st.floats(-10.0, 10.0))
def test_where_differences_agree_they_give_the_closed_form_slope(name: str, x: float) -> None:
    # Two steps that agree on a slope near 0 (2.24e-6 and 2.14e-6 for sin at -1.74e10, whose
    # slope is -0.77) agreed to a fixed 1e-6, and the documented recipe failed a right sin.
    f, slope = _SLOPES[name]
    assume(differences_agree(f, [x], 0))
    numeric = central_difference(f, [x], 0, 1e-6 * max(1.0, abs(x)))
    assert math.isclose(numeric, slope(x), rel_tol=1e-3, abs_tol=1e-5), (numeric, slope(x))
    assert gradcheck(getattr(mg, name) if name in ("sin", "cos", "atan") else (lambda v: v**3), x)


@pytest.mark.slow
@settings(max_examples=3000)
@given(name=st.sampled_from(sorted(_SLOPES)), x=st.floats(-1e15, 1e15) | st.floats(-10.0, 10.0))
def test_where_differences_agree_they_give_the_closed_form_slope_at_thousands_of_points(
    name: str, x: float
) -> None:
    test_where_differences_agree_they_give_the_closed_form_slope.hypothesis.inner_test(name, x)  # type: ignore[attr-defined]
