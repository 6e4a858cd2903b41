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
from microgrsucc import Value, grad, ops
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
        (lambda v: v**-0.95, 5e-324, -math.inf),  # each of the slope's two factors is too
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
        "x**-0.95@5e-324",
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


# --- PyTorch float64 as the oracle of every op of the table ------------------------------------
# The value, the first and the second derivatives of each op (and of members of the families with
# other constants) against torch's, at random points of its domain and at its kinks, edges, ±0,
# ±inf and NaN. Where they differ, the difference is one of the kinds below, each a decision
# of the engine that docs/ops.md lists; anything else fails.


def _torch() -> Any:
    return pytest.importorskip("torch")


def _torch_op(op: ops.Primitive) -> Callable[..., Any]:
    torch = _torch()
    tf = torch.nn.functional
    if isinstance(op, ops.Parametric):
        c = op.constants
        return {
            "softplus": lambda x: tf.softplus(x, beta=c[0], threshold=c[1]),
            "leaky_relu": lambda x: tf.leaky_relu(x, c[0]),
            "elu": lambda x: tf.elu(x, c[0]),
            "celu": lambda x: tf.celu(x, c[0]),
            "gelu": lambda x: tf.gelu(x, approximate=c[0]),
            "hardtanh": lambda x: tf.hardtanh(x, c[0], c[1]),
            "clamp": lambda x: torch.clamp(x, c[0], c[1]),
        }[op.name]
    named = {"neg": torch.neg, "abs": torch.abs, "relu": torch.relu, "sigmoid": torch.sigmoid}
    named["clamp_min_max"] = torch.clamp  # clamp with both bounds tensors
    return named.get(op.name) or getattr(torch, op.name, None) or getattr(tf, op.name)


Derivatives = tuple[float, list[float], list[list[float]] | None]


def _torch_derivatives(op: ops.Primitive, args: tuple[float, ...]) -> Derivatives:
    torch = _torch()
    xs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    out = _torch_op(op)(*xs)
    firsts = torch.autograd.grad(out, xs, create_graph=True)
    seconds: list[list[float]] | None = []
    for g in firsts:
        if not g.requires_grad:  # a constant slope
            seconds.append([0.0] * len(xs))  # type: ignore[union-attr]
            continue
        try:
            row = torch.autograd.grad(g, xs, allow_unused=True, retain_graph=True)
        except RuntimeError:  # torch has no second derivative of this op (hardsigmoid)
            seconds = None
            break
        seconds.append([0.0 if h is None else h.item() for h in row])  # type: ignore[union-attr]
    return out.item(), [g.item() for g in firsts], seconds


def _engine_derivatives(op: ops.Primitive, args: tuple[float, ...]) -> Derivatives:
    leaves = [Value(a) for a in args]
    out = mg.CustomOp(op)(*leaves)
    firsts = mg.gradients(out, leaves, create_graph=True)
    seconds = [
        [float(h) for h in mg.gradients(g, leaves)] if isinstance(g, Value) else [0.0] * len(leaves)
        for g in firsts
    ]
    return out.data, [g.item() for g in firsts], seconds  # Values: item() says a number is meant


def _same(a: float, b: float, rel: float, abs_: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= abs_ + rel * abs(b)


def _difference(op: ops.Primitive, args: tuple[float, ...]) -> str | None:
    """None where the engine agrees with torch; else the documented kind of difference."""
    want = _torch_derivatives(op, args)
    try:
        got = _engine_derivatives(op, args)
    except (ValueError, ZeroDivisionError) as err:
        assert math.isnan(want[0]) or (op.name == "log" and want[0] == -math.inf), (op.symbol, args, err)
        return "a domain error where torch gives NaN"
    except OverflowError:
        assert math.isinf(want[0]), (op.symbol, args)
        return "an OverflowError where torch gives inf"
    kind = None
    if op.name == "gelu" and args[0] < -3.0 and not _same(got[0], want[0], 1e-12, 1e-300):
        # Torch's 0.5 x (1 + erf(x/√2)) (or 1 + tanh) cancels: its error is an ulp of 1 times x.
        # The engine's erfc (sigmoid) form is accurate to a few ulps (tests/test_conformance.py).
        assert abs(got[0] - want[0]) <= 1e-15 * abs(args[0]), (op.symbol, args, got[0], want[0])
        return "gelu's left tail is accurate where torch's 1 + erf(x) cancels"
    assert _same(got[0], want[0], 1e-12, 1e-300), (op.symbol, args, got[0], want[0])
    for i, (a, b) in enumerate(zip(got[1], want[1], strict=True)):
        if _same(a, b, 1e-9, 1e-12):
            continue
        if math.isnan(a) and any(math.isnan(x) for x in args):
            kind = "a NaN slope where torch's mask gives a number"
        elif op.name == "hardsigmoid" and b == pytest.approx(1 / 6, rel=1e-7):
            kind = "hardsigmoid's slope is 1/6, torch's float32 1/6"
        elif op.name == "softsign" and math.isinf(args[0]) and a == 0.0:
            kind = "0 where torch's formula gives inf - inf"
        elif op.name == "sqrt" and args[0] == 0.0:
            kind = "sqrt'(-0.0) is inf, torch's -inf"
        else:
            pytest.fail(f"{op.symbol}{args}: d/dx{i} is {a}, torch gives {b}")
    if kind or want[2] is None:
        return kind
    for i, (row, torch_row) in enumerate(zip(got[2], want[2], strict=True)):
        for j, (a, b) in enumerate(zip(row, torch_row, strict=True)):
            if _same(a, b, 1e-8, 1e-10):
                continue
            if math.isnan(a) and math.isinf(got[1][i]):
                kind = "a NaN second derivative at a vertical tangent, torch's ±inf"
            elif math.isnan(b) and a == 0.0 and op.name in ("atan2", "hypot") and args == (0.0, 0.0):
                kind = "a 0 second derivative at the origin, torch's NaN"
            elif math.isnan(b) and op.name == "mish" and args[0] > 100:
                kind = "0 where torch's formula overflows"
            elif math.isfinite(a) and not math.isfinite(b) and any(0 < abs(v) < 1e-100 for v in args):
                # x² + y² under- or overflows in torch's atan2/hypot slopes at tiny arguments
                kind = "a finite second derivative where torch's formula overflows at tiny arguments"
            else:
                pytest.fail(f"{op.symbol}{args}: d2/dx{i}dx{j} is {a}, torch gives {b}")
    return kind


ORACLE_OPS = [op for op in ops.PRIMITIVES.values() if op.name.isidentifier() and op.name != "clamp"] + [
    ops.leaky_relu_of(0.2),
    ops.gelu_of("tanh"),
    ops.softplus_of(2.0, 5.0),
    ops.softplus_of(-1.0),
    ops.elu_of(0.5),
    ops.celu_of(2.0),
    ops.celu_of(-1.5),  # a negative alpha: x / alpha has the other sign than x
    ops.elu_of(-1.0),
    ops.hardtanh_of(-2.0, 3.0),
    ops.clamp_of(-1.0, 2.0),
    ops.clamp_of(0.5, None),
    ops.clamp_of(None, 0.5),
]
_IDS = [op.symbol for op in ORACLE_OPS]
_SPECIAL = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    3.0,
    -3.0,
    6.0,
    2.5,
    -5.5,
    20.0,
    40.0,
    -40.0,
    1e-300,
    -5e-324,
    800.0,
    -800.0,
]
_SPECIAL += [math.inf, -math.inf, math.nan]


def _special_points(op: ops.Primitive) -> list[tuple[float, ...]]:
    """Every kink and edge of the table's ops, the family's constants, ±0, ±inf and NaN."""
    if op.arity == 2:
        few = [0.0, -0.0, 1.0, -1.0, 2.5, -5.5, math.inf, -math.inf, math.nan]
        return [(a, b) for a in few for b in few]
    if op.arity == 3:  # every order of three, ties and all (tests/test_reference_torch.py: more)
        few = [0.0, 1.0, -1.0, math.inf, -math.inf, math.nan]
        return [(a, b, c) for a in few for b in few for c in few]
    constants = [c for c in getattr(op, "constants", ()) if isinstance(c, float)]
    return [(x,) for x in [*_SPECIAL, *constants, *[c / 2 for c in constants]]]


@pytest.mark.torch
@pytest.mark.parametrize("op", ORACLE_OPS, ids=_IDS)
def test_every_op_agrees_with_pytorch_at_kinks_edges_infinities_and_nan(op: ops.Primitive) -> None:
    for args in _special_points(op):
        _difference(op, args)  # fails on a difference of no documented kind


def _inside(op: ops.Primitive) -> st.SearchStrategy[tuple[float, ...]]:
    return st.tuples(*[st.one_of(*[reals(a, b) for a, b in part]) for part in op.domain])


@pytest.mark.torch
@pytest.mark.parametrize("op", ORACLE_OPS, ids=_IDS)
@settings(max_examples=5)
@given(data=st.data())
def test_every_op_agrees_with_pytorch_inside_its_domain(op: ops.Primitive, data: st.DataObject) -> None:
    kind = _difference(op, data.draw(_inside(op)))
    assert kind in (None, "hardsigmoid's slope is 1/6, torch's float32 1/6") or kind.startswith("gelu's")


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("op", ORACLE_OPS, ids=_IDS)
@settings(parent=settings.get_profile("thorough"), max_examples=2000)
@given(data=st.data())
def test_every_op_agrees_with_pytorch_over_thousands_of_points(
    op: ops.Primitive, data: st.DataObject
) -> None:
    args = data.draw(_inside(op) | st.sampled_from(_special_points(op)))
    _difference(op, args)  # fails on a difference of no documented kind


# Each documented kind of difference, shown where it happens (docs/ops.md says the same).
_DIFFERENCES = [
    (ops.log1p, (-2.0,), "a domain error where torch gives NaN"),  # as log(-1): an error names it
    (ops.fmod, (1.0, 0.0), "a domain error where torch gives NaN"),  # as 1.0 / 0.0
    (ops.sinh, (1e3,), "an OverflowError where torch gives inf"),  # as exp(1e3)
    (ops.relu, (math.nan,), "a NaN slope where torch's mask gives a number"),  # NaN stays visible
    (ops.maximum, (math.nan, 1.0), "a NaN slope where torch's mask gives a number"),
    (ops.asin, (1.0,), "a NaN second derivative at a vertical tangent, torch's ±inf"),  # as sqrt at 0
    (ops.atan2, (0.0, 0.0), "a 0 second derivative at the origin, torch's NaN"),
    (ops.hardsigmoid, (1.0,), "hardsigmoid's slope is 1/6, torch's float32 1/6"),
    (ops.softsign, (math.inf,), "0 where torch's formula gives inf - inf"),
    (ops.mish, (800.0,), "0 where torch's formula overflows"),
    (
        ops.atan2,
        (0.0, 2e-138),
        "a finite second derivative where torch's formula overflows at tiny arguments",
    ),
    (ops.gelu, (-5.5,), "gelu's left tail is accurate where torch's 1 + erf(x) cancels"),
]


@pytest.mark.torch
@pytest.mark.parametrize("op, args, kind", _DIFFERENCES, ids=[d[2] for d in _DIFFERENCES])
def test_each_documented_difference_from_pytorch_happens_where_it_says(
    op: ops.Primitive, args: tuple[float, ...], kind: str
) -> None:
    assert _difference(op, args) == kind


# --- clamp with bounds that are Values: which op applies, and what it refuses -------------------


@pytest.mark.parametrize(
    "make, op",
    [
        (lambda x, b: x.clamp(b), "clamp_min"),
        (lambda x, b: x.clamp(max=b), "clamp_max"),
        (lambda x, b: x.clamp(b, b * 2), "clamp_min_max"),
        (lambda x, b: mg.clamp(x, 0.0, b), "clamp_min_max"),  # a number bound beside a Value
        (lambda x, b: mg.clamp(0.5, b), "clamp_min"),  # a number x becomes a leaf
        (lambda x, b: x.clamp(0.0, 1.0), "clamp"),  # number bounds: the family's unary member
    ],
)
def test_clamp_applies_the_op_whose_operands_are_the_value_bounds(make: Any, op: str) -> None:
    x, b = Value(0.5), Value(0.25)
    out = make(x, b)
    assert out.op == op
    out.backward()
    assert (b.grad is not None) == (op != "clamp")  # a Value bound is differentiated, as torch's


def test_a_clamp_bound_of_another_type_is_a_type_error_naming_clamp_and_the_bounds() -> None:
    x = Value(0.5)
    with pytest.raises(
        TypeError, match=r"^clamp: the bounds must be real numbers or Values, got min=str, max=Value$"
    ):
        x.clamp("0", Value(1.0))
    with pytest.raises(TypeError, match=r"^clamp: the bounds must be real numbers or Values, got min=list$"):
        x.clamp([0.0])
    with pytest.raises(TypeError, match=r"^clamp: min must be a real number, got str$"):
        x.clamp("0", 1.0)  # number bounds: the family's own check
