"""Identities between ops, saturation and stable forms, x**n's slope over the whole float range, NaN
through every branch: what the per-op conformance suite (tests/test_conformance.py) does not
see, since it checks one op at a time."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, grad
from microgrsucc.testing.strategies import reals


def close(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@given(reals(-5, 5), reals(-5, 5))
def test_product_rule_identity(x: float, y: float) -> None:
    a, b = Value(x), Value(y)
    (a * b).backward()
    assert a.grad == y and b.grad == x


@given(reals(-20, 20))
def test_log_of_exp_is_identity(x: float) -> None:
    v = Value(x)
    out = v.exp().log()
    out.backward()
    assert close(out.data, x, rel=1e-12, abs_=1e-12)
    assert close(v.grad, 1.0, rel=1e-12)


@given(reals(-20, 20))
def test_sin_squared_plus_cos_squared(x: float) -> None:
    v = Value(x)
    out = v.sin() ** 2 + v.cos() ** 2
    out.backward()
    assert close(out.data, 1.0, rel=1e-12)
    assert abs(v.grad) < 1e-12


@given(reals(-10, 10))
def test_tanh_is_a_scaled_sigmoid(x: float) -> None:
    a, b = Value(x), Value(x)
    t = a.tanh()
    s = 2 * (2 * b).sigmoid() - 1
    t.backward()
    s.backward()
    assert close(t.data, s.data, rel=1e-9, abs_=1e-12)
    assert close(a.grad, b.grad, rel=1e-9, abs_=1e-12)


@given(reals(1e-3, 1e3))
def test_sqrt_squared_and_division_inverse(x: float) -> None:
    v = Value(x)
    assert close((v.sqrt() ** 2).data, x, rel=1e-12)
    w = Value(x)
    out = 1 / (1 / w)
    out.backward()
    assert close(out.data, x, rel=1e-12)
    assert close(w.grad, 1.0, rel=1e-9)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_sigmoid_and_tanh_saturate_without_overflow(sign: float) -> None:
    s, t = Value(1000.0 * sign), Value(1000.0 * sign)
    sig, th = s.sigmoid(), t.tanh()
    assert sig.data == (1.0 if sign > 0 else 0.0)
    assert th.data == sign
    sig.backward()
    th.backward()
    assert s.grad == 0.0 and t.grad == 0.0
    assert math.isfinite(s.grad) and math.isfinite(t.grad)


def test_sigmoid_is_accurate_deep_in_the_negative_tail() -> None:
    # 1 / (1 + exp(-x)) would round to 0.0 here; the stable form keeps ~ exp(x).
    assert close(Value(-700.0).sigmoid().data, math.exp(-700.0), rel=1e-12)


def test_power_with_a_value_exponent_differentiates_both_sides() -> None:
    x, y = Value(2.0), Value(3.0)
    out = x**y
    out.backward()
    assert out.data == 8.0
    assert x.grad == pytest.approx(12.0)
    assert y.grad == pytest.approx(8.0 * math.log(2.0))
    base = Value(-2.0)
    (base ** Value(2.0)).backward()
    assert base.grad == pytest.approx(-4.0)  # the base's gradient exists for an integer power


@pytest.mark.parametrize("exponent", [3, 3.0])
def test_powers_stay_differentiable_at_zero(exponent: float) -> None:
    x = Value(0.0)
    out = x ** (Value(exponent) if isinstance(exponent, float) else exponent)
    for expected in (0.0, 0.0, 6.0):  # 3x**2, 6x, 6 at x = 0
        x.grad = 0.0
        out.backward(create_graph=True)
        out = x.grad
        assert out.data == expected


# x**n's slope over the whole float range


def power_derivative(x: float, n: float, order: int) -> float:
    """d^order/dx^order x**n = n (n-1) ... x**(n-order), in decimal at 60 digits, rounded once.

    Independent of the engine: exp((n - order) ln|x|) with the sign of an integer power of a
    negative base, so it is exact where float ** over- or underflows in the middle.
    """
    with localcontext() as context:
        context.prec = 60
        coefficient = Decimal(1)
        for k in range(order):
            coefficient *= Decimal(n) - k
        if coefficient == 0:
            return 0.0
        m = Decimal(n) - order
        magnitude = (m * abs(Decimal(x)).ln()).exp()
        negative = x < 0 and int(m) % 2 == 1
        result = coefficient * (-magnitude if negative else magnitude)
        return float(result)  # ±inf beyond the floats, correctly rounded below


def close_to(engine: float, exact: float, n: float) -> bool:
    """rel 1e-9; below the normal range, the few subnormal ulps times |n| that rounding costs."""
    if math.isinf(exact):
        return engine == exact
    return abs(engine - exact) <= 1e-9 * abs(exact) + (abs(n) + 1) ** 2 * 1e-323


def log_uniform(lo: float = -300, hi: float = 300) -> st.SearchStrategy[float]:
    return st.floats(lo, hi).map(lambda u: 10.0**u)


exponents = (
    st.floats(-8, 8, allow_nan=False) | st.integers(-20, 20).map(float) | st.sampled_from([0.5, 1.5, 1000.0])
)


@given(log_uniform(), exponents, st.booleans())
def test_the_slope_of_a_power_over_the_whole_float_range(x: float, n: float, negative: bool) -> None:
    check_power_slope(x, n, negative)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"))
@given(log_uniform(), exponents, st.booleans())
def test_the_slope_of_a_power_thoroughly(x: float, n: float, negative: bool) -> None:
    check_power_slope(x, n, negative)


def check_power_slope(x: float, n: float, negative: bool) -> None:
    """First and second order of x**n at ±x against decimal, where x**n itself is a float."""
    if negative:
        assume(n.is_integer())  # a negative base only to an integer power (else complex)
        x = -x
    try:
        x**n
    except (OverflowError, ZeroDivisionError):
        assume(False)  # the forward itself overflows: an OverflowError by design
    first = grad(lambda v: v**n)(x)
    assert close_to(first, power_derivative(x, n, 1), n), (first, power_derivative(x, n, 1))
    # As in torch, the second derivative is the chain n * ((n-1) x**(n-2)): where the inner
    # factor alone is past the floats it is ±inf, even where n would bring it back.
    assume(math.isfinite(power_derivative(x, n - 1.0, 1)) or math.isinf(power_derivative(x, n, 2)))
    second = grad(grad(lambda v: v**n))(x)
    assert close_to(second, power_derivative(x, n, 2), n), (second, power_derivative(x, n, 2))
    # A Value exponent is a binary op with the same slope in x.
    assert close_to(grad(lambda v: v ** Value(n))(x), power_derivative(x, n, 1), n)


@pytest.mark.parametrize(
    "f, x, expected",
    [
        (lambda v: v**2, 1e154, 2e154),
        (lambda v: v**2, 1e-170, 2e-170),
        (lambda v: v**1.5, 1e-300, 1.5e-150),
        (lambda v: v**1000, 2.02, 1000 * 2.02**999),  # finite: 1.1e308
        (lambda v: v**2, math.inf, math.inf),  # torch: inf, not nan
        (lambda v: v**-1, 1e-200, -math.inf),  # the true slope is past the floats
        (grad(lambda v: v**2), 1e154, 2.0),  # second order
        (grad(lambda v: v**-1), 1e-300, math.inf),  # second order past the floats: inf, not 0
    ],
    ids=[
        "x**2@1e154",
        "x**2@1e-170",
        "x**1.5@1e-300",
        "x**1000@2.02",
        "x**2@inf",
        "x**-1@1e-200",
        "d2 x**2",
        "d2 x**-1",
    ],
)
def test_the_slope_of_a_power_at_the_edges_of_the_floats(
    f: Callable[[Any], Any], x: float, expected: float
) -> None:
    got = grad(f)(x)
    assert math.isclose(got, expected, rel_tol=1e-12), (got, expected)  # no absolute tolerance


def test_nan_propagates_through_relu_abs_losses_and_models() -> None:
    for f in (mg.relu, abs):
        x = Value(math.nan)
        out = f(x)
        out.backward()
        assert math.isnan(out.data) and math.isnan(x.grad), f  # relu(nan) was 0 with gradient 0
    assert math.isnan(mg.losses.hinge_loss([math.nan, 3.0], [1, 1]).data)  # was 0.0: looked healthy
    model = mg.nn.MLP(2, [4, 4, 1], seed=0)
    model.parameters()[0].data = math.nan  # one diverged weight in the first layer
    loss = mg.losses.hinge_loss([model([0.5, -1.0]), model([1.0, 2.0])], [1, -1])
    assert math.isnan(loss.data)
    loss.backward()
    assert any(math.isnan(p.grad) for p in model.parameters())
