"""Identities between ops, saturation and stable forms: what the per-op conformance suite
(tests/test_conformance.py) does not see, since it checks one op at a time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from microgrsucc import Value
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
