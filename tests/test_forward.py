"""Dual numbers and jvp: tangents from the op table, operator dispatch, random graphs, errors."""

from __future__ import annotations

import math
import operator
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, grad, jvp, ops
from microgrsucc.backward import below
from microgrsucc.forward import Dual, lift
from microgrsucc.testing import central_difference, differences_agree
from microgrsucc.testing.strategies import Graph, graphs, op_arguments, reals


@pytest.mark.parametrize("name", sorted(ops.PRIMITIVES))
@given(data=st.data())
def test_every_primitive_pushes_the_tangent_its_backward_pulls(name: str, data: st.DataObject) -> None:
    args = data.draw(op_arguments(name))
    tangents = data.draw(st.tuples(*[reals(-2, 2)] * len(args)))
    out = lift(ops.PRIMITIVES[name])(*[Dual(a, t) for a, t in zip(args, tangents, strict=True)])
    leaves = [Value(a) for a in args]
    reverse = mg.CustomOp(ops.PRIMITIVES[name])(*leaves)
    reverse.backward()
    assert isinstance(out, Dual) and out.op == name and out.data == reverse.data
    expected = sum(v.grad * t for v, t in zip(leaves, tangents, strict=True))
    assert math.isclose(out.tangent, expected, rel_tol=1e-12, abs_tol=1e-12)


def test_operators_with_numbers_and_plain_values_on_either_side() -> None:
    x = Dual(2.0, tangent=1.0)
    c = Value(3.0)
    cases = {
        "x + c": (x + c, 1.0),
        "c + x": (c + x, 1.0),
        "c - x": (c - x, -1.0),
        "c * x": (c * x, 3.0),
        "c / x": (c / x, -0.75),
        "c ** x": (c**x, 9.0 * math.log(3.0)),
        "x ** c": (x**c, 12.0),
        "2 ** x": (2**x, 4.0 * math.log(2.0)),
        "x ** 3": (x**3, 12.0),
        "np * x": (np.float64(2.0) * x, 2.0),
        "frac - x": (Fraction(1, 2) - x, -1.0),
        "-x": (-x, -1.0),
        "abs(-x)": (abs(-x), 1.0),
        "+x": (+x, 1.0),
    }
    for case, (out, tangent) in cases.items():
        assert isinstance(out, Dual), case
        assert math.isclose(out.tangent, tangent, rel_tol=1e-12), (case, out.tangent)
    assert c.grad is None and c.is_leaf


def test_module_functions_and_methods_keep_the_tangent() -> None:
    x = Dual(0.5, tangent=2.0)
    for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu"):
        via_function, via_method = getattr(mg, name)(x), getattr(x, name)()
        assert isinstance(via_function, Dual) and via_function.tangent == via_method.tangent != 0.0


def test_jvp_is_a_directional_derivative() -> None:
    value, tangent = jvp(lambda x, y: x * mg.exp(y) + y.sin(), (3.0, 0.0), (1.0, 2.0))
    assert (type(value), type(tangent)) == (float, float)
    assert value == 3.0 and math.isclose(tangent, 1.0 + 3.0 * 2.0 + 2.0)
    assert jvp(lambda x: 5.0, (1.0,), (1.0,)) == (5.0, 0.0)
    assert jvp(lambda x: Value(5.0), (1.0,), (1.0,)) == (5.0, 0.0)


@given(graphs(), st.data())
def test_jvp_on_random_graphs_matches_finite_differences_and_grad(f: Graph, data: st.DataObject) -> None:
    xs = list(f.inputs)
    v = data.draw(st.lists(reals(-1, 1), min_size=len(xs), max_size=len(xs)))
    value, tangent = jvp(f, xs, v)
    assert value == f(*xs).data
    along = lambda t: f(*[x + t * d for x, d in zip(xs, v, strict=True)]).data
    assume(differences_agree(along, [0.0], 0))  # else float64 differences cannot judge
    numeric = central_difference(along, [0.0], 0)
    # Each value of f is rounded at its largest node (exp(13) - 442413.39 is a few ulps of
    # 4e5), so the differences, over a step of 1e-6, are no closer than that allows.
    largest = max((abs(v.data) for v in below(f(*xs)) if math.isfinite(v.data)), default=0.0)
    noise = 64.0 * largest * 2.0**-52 / 1e-6
    assert math.isclose(tangent, numeric, rel_tol=1e-4, abs_tol=max(1e-5, noise)), (tangent, numeric, f)
    gradient = grad(f, argnums=tuple(range(len(xs))))(*xs)
    reverse = sum(g * d for g, d in zip(gradient, v, strict=True))
    assert math.isclose(tangent, reverse, rel_tol=1e-9, abs_tol=1e-9)


def test_forward_mode_errors_name_the_op_and_operand() -> None:
    with pytest.raises(ValueError, match=r"log\(-1.0\)"):
        jvp(mg.log, (-1.0,), (1.0,))
    with pytest.raises(ZeroDivisionError, match=r"1.0 / 0.0"):
        jvp(lambda x: 1 / x, (0.0,), (1.0,))
    with pytest.raises(TypeError, match="'Dual' and 'str'"):
        Dual(1.0) + "a"


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: jvp(mg.sin, (1.0, 2.0), (1.0,)), "2 primal(s) but 1 tangent(s)"),
        (lambda: jvp(mg.sin, (Value(1.0),), (1.0,)), "must be plain real numbers"),
        (lambda: jvp(mg.sin, ("1",), (1.0,)), "jvp: primal 0 expects a real number"),  # type: ignore[arg-type]
        (lambda: grad(lambda x: jvp(mg.sin, (1.0,), (1.0,))[1])(1.0), "inside a reverse-mode transform"),
        (lambda: jvp(grad(mg.sin), (1.0,), (1.0,)), "argument 0 is a Dual"),
        (lambda: jvp(lambda x: grad(lambda y: x * y)(1.0), (1.0,), (1.0,)), "f returned a Dual"),
        (lambda: jvp(lambda x: jvp(mg.sin, (x,), (1.0,))[1], (1.0,), (1.0,)), "not Values"),
    ],
)
def test_unsupported_nesting_is_a_type_error_not_a_wrong_number(call: object, words: str) -> None:
    with pytest.raises((TypeError, ValueError)) as caught:
        call()  # type: ignore[operator]
    assert words in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: mg.sqrt(x * x),  # d/dx x*x is 0 at 0, and sqrt's slope there is inf
        lambda x: (x * 0.0).sqrt(),
        lambda x: mg.log(x * x + 1.0) * 0.0 + mg.sqrt(x - x),
    ],
)
def test_forward_mode_multiplies_a_zero_tangent_as_reverse_mode_does(f: Any) -> None:
    # 0 * inf is NaN in both modes (torch gives NaN in both); a zero tangent is not skipped.
    reverse = grad(f)(0.0)
    _, tangent = jvp(f, (0.0,), (1.0,))
    assert math.isnan(reverse) and math.isnan(tangent)


def test_a_constant_has_no_tangent_even_where_its_partial_is_nan() -> None:
    # d/dy x**y at x < 0 is NaN; y a constant contributes nothing, as torch skips an input
    # without a tangent.
    value, tangent = jvp(lambda x: x ** Value(2.0), (-3.0,), (1.0,))
    assert (value, tangent) == (9.0, -6.0)


@pytest.mark.parametrize("name", [n for n, p in ops.PRIMITIVES.items() if p.arity == 2 and n.isidentifier()])
def test_a_plain_values_method_of_two_operands_keeps_a_duals_tangent(name: str) -> None:
    # c.maximum(dual) must reach Dual's method, as c + dual reaches Dual.__radd__; before, the
    # Dual was read as its value alone and the tangent through it was lost.
    c, x0 = Value(0.7), 1.3
    _, tangent = jvp(lambda x: getattr(c, name)(x), (x0,), (1.0,))
    forward = ops.PRIMITIVES[name].forward
    assert tangent == pytest.approx(central_difference(forward, (0.7, x0), 1), rel=1e-6, abs=1e-9)


def test_an_in_place_operator_on_a_value_with_a_dual_keeps_the_tangent() -> None:
    # ``c += dual`` records a node as ``c = c + dual`` does; it called c's own __add__, which
    # read the Dual as its value alone and gave a Value whose tangent was lost.
    for name, apply in [("+=", operator.iadd), ("-=", operator.isub), ("*=", operator.imul)]:
        c, want = Value(3.0), {"+=": 1.0, "-=": -1.0, "*=": 3.0}[name]
        out = apply(c, Dual(2.0, tangent=1.0))
        assert isinstance(out, Dual) and out.tangent == want, name
