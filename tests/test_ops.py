"""Every primitive: value against a float reference, gradient against central differences."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrsucc import Value, ops
from microgrsucc.testing import central_difference
from microgrsucc.testing.strategies import OP_DOMAINS, op_arguments, reals

# How each primitive is reached from the public API ...
ON_VALUES: dict[str, Callable[..., Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
    "neg": operator.neg,
    "abs": abs,
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "sqrt": lambda x: x.sqrt(),
    "sin": lambda x: x.sin(),
    "cos": lambda x: x.cos(),
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "relu": lambda x: x.relu(),
}

# ... and an independent float64 reference for its value.
REFERENCE: dict[str, Callable[..., float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": math.pow,
    "neg": operator.neg,
    "abs": math.fabs,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
    "sigmoid": lambda x: 0.5 * (1.0 + math.tanh(0.5 * x)),
    "relu": lambda x: max(x, 0.0),
}


def close(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def test_every_primitive_is_tested() -> None:
    assert set(ops.PRIMITIVES) == set(ON_VALUES) == set(REFERENCE) == set(OP_DOMAINS)


@pytest.mark.parametrize("name", sorted(ops.PRIMITIVES))
@given(data=st.data())
def test_value_and_gradient_match_float64_reference(name: str, data: st.DataObject) -> None:
    args = data.draw(op_arguments(name))
    leaves = [Value(a) for a in args]
    out = ON_VALUES[name](*leaves)
    assert out.op == name
    assert close(out.data, REFERENCE[name](*args), rel=1e-12, abs_=1e-12)
    out.backward()
    for i, leaf in enumerate(leaves):
        eps = 1e-6 * max(1.0, abs(args[i]))
        numeric = central_difference(REFERENCE[name], args, i, eps)
        assert close(leaf.grad, numeric, rel=1e-5, abs_=1e-6), (name, args, i, leaf.grad, numeric)


@given(reals(-5, 5), st.sampled_from([-3, -2, -1, 0, 1, 2, 3, 0.5, 1.5, -0.5]))
def test_power_by_a_constant(x: float, n: float) -> None:
    if (x <= 0 and not float(n).is_integer()) or (x == 0 and n <= 0) or abs(x) < 1e-3:
        return  # outside the real domain, or too close to the pole for finite differences
    v = Value(x)
    out = v**n
    assert out.inputs == (v,)  # the exponent is part of the op, not a node owed a gradient
    assert close(out.data, x**n, rel=1e-12)
    out.backward()
    numeric = central_difference(lambda t: t**n, [x], 0, 1e-6 * max(1.0, abs(x)))
    assert close(v.grad, numeric, rel=1e-5)


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


def test_kinks_use_the_pytorch_conventions() -> None:
    for fn in (abs, lambda v: v.relu()):
        x = Value(0.0)
        fn(x).backward()
        assert x.grad == 0.0


def test_gradients_at_the_edge_of_a_domain_are_infinite_not_errors() -> None:
    x = Value(0.0)
    x.sqrt().backward()
    assert x.grad == math.inf
    y = Value(0.0)
    (y**0.5).backward()
    assert y.grad == math.inf


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


def test_number_raised_to_a_value() -> None:
    y = Value(3.0)
    out = 2**y
    out.backward()
    assert out.data == 8.0
    assert y.grad == pytest.approx(8.0 * math.log(2.0))


def test_a_power_whose_slope_overflows_gives_an_infinite_gradient() -> None:
    x = Value(1e-200)
    (x**-1).backward()  # n * x**(n-1) would raise OverflowError in float **
    assert x.grad == -math.inf


@pytest.mark.parametrize("exponent", [3, 3.0])
def test_powers_stay_differentiable_at_zero(exponent: float) -> None:
    x = Value(0.0)
    out = x ** (Value(exponent) if isinstance(exponent, float) else exponent)
    for expected in (0.0, 0.0, 6.0):  # 3x**2, 6x, 6 at x = 0
        x.grad = 0.0
        out.backward(create_graph=True)
        out = x.grad
        assert out.data == expected
