"""custom_op: a user's primitive works with backward, grad to any order, jvp, drawing and the checks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, custom_op, grad, jvp, ops
from microgrsucc.testing import differences_agree, gradcheck, gradgradcheck
from microgrsucc.testing.strategies import OP_DOMAINS, Graph, graphs, reals

softplus = custom_op("smooth_relu", lambda x: math.log1p(math.exp(x)), lambda F, x, out: F.sigmoid(x))
# Three inputs, so the n-ary path of the engine is used: x*y + z with partials (y, x, 1).
fma = custom_op("fma", lambda x, y, z: x * y + z, lambda F, x, y, z, out: (y, x, 1.0))
# A linear op may give its partials as constants.
avg = custom_op("avg", lambda x, y: (x + y) / 2, (0.5, 0.5))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@given(reals(-5, 5))
def test_softplus_derivatives_to_third_order(x: float) -> None:
    s = sigmoid(x)
    assert math.isclose(softplus(x).data, math.log1p(math.exp(x)), rel_tol=1e-12)
    assert math.isclose(grad(softplus)(x), s, rel_tol=1e-12)
    assert math.isclose(grad(grad(softplus))(x), s * (1 - s), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(grad(grad(grad(softplus)))(x), s * (1 - s) * (1 - 2 * s), rel_tol=1e-9, abs_tol=1e-12)


def test_backward_jvp_and_the_recorded_node() -> None:
    x, y, z = Value(2.0), Value(3.0), Value(4.0)
    out = fma(x, y, z)
    assert out.op == "fma" and out.inputs == (x, y, z) and out.data == 10.0
    out.backward()
    assert (x.grad, y.grad, z.grad) == (3.0, 2.0, 1.0)
    assert jvp(fma, (2.0, 3.0, 4.0), (1.0, 10.0, 100.0)) == (10.0, 3.0 + 20.0 + 100.0)
    assert jvp(lambda a: avg(a, 1.0), (3.0,), (1.0,)) == (2.0, 0.5)
    assert mg.hessian(fma)(2.0, 3.0, 4.0) == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_numbers_mix_with_values_and_duals() -> None:
    assert avg(1, Value(3.0)).data == 2.0
    assert grad(lambda a: avg(a, 5) * a)(1.0) == 3.5  # d/da (a + 5) a / 2 = a + 2.5
    assert jvp(lambda a: softplus(a) * 2, (0.0,), (1.0,)) == (2 * math.log(2.0), 1.0)


def test_drawing_shows_the_custom_op() -> None:
    pytest.importorskip("graphviz")
    x = Value(0.5, label="x")
    source = mg.draw(softplus(x) * x, max_nodes=None).source
    assert "smooth_relu" in source and "x" in source


@given(reals(-4, 4), reals(-4, 4), reals(-4, 4))
def test_custom_ops_pass_gradcheck_and_gradgradcheck(x: float, y: float, z: float) -> None:
    assert gradcheck(softplus, x) and gradgradcheck(softplus, x)
    assert gradcheck(fma, x, y, z) and gradgradcheck(fma, x, y, z)
    assert gradcheck(avg, x, y) and gradgradcheck(avg, x, y)


@given(
    graphs(
        primitives=[*ops.PRIMITIVES.values(), softplus, fma],
        domains={
            "smooth_relu": st.tuples(reals(-5, 5)),
            "fma": st.tuples(reals(-3, 3), reals(-3, 3), reals(-3, 3)),
        },
    )
)
def test_custom_ops_inside_random_graphs(f: Graph) -> None:
    # Where two step sizes disagree, float64 differences cannot judge (first or second order).
    assume(differences_agree(lambda *xs: f(*xs).data, f.inputs, -1))
    assume(all(differences_agree(grad(f, argnums=i), f.inputs, -1) for i in range(len(f.inputs))))
    assert gradcheck(f, *f.inputs)
    assert gradgradcheck(f, *f.inputs)


def test_a_derivative_built_from_plain_floats_is_caught_one_order_up() -> None:
    # F.value(x) is a float: right at first order, a constant (wrong) at the next.
    cube = custom_op("cube", lambda x: x**3, lambda F, x, out: 3.0 * F.value(x) ** 2)
    assert gradcheck(cube, 1.5)
    with pytest.raises(mg.testing.GradcheckError, match="second derivative in arguments 0 and 0"):
        gradgradcheck(cube, 1.5)


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: custom_op("", abs, 1.0), TypeError, "non-empty string"),
        (lambda: custom_op("exp", math.exp, lambda F, x, out: out), ValueError, "taken by a built-in"),
        (lambda: custom_op("f", 3.0, 1.0), TypeError, "forward must be callable"),  # type: ignore[arg-type]
        (lambda: custom_op("f", lambda *xs: sum(xs), 1.0), TypeError, "pass arity="),
        (lambda: custom_op("f", lambda: 1.0, 1.0), ValueError, "arity must be a positive int"),
        (lambda: custom_op("f", lambda x, y: x, 1.0), TypeError, "a tuple of 2 numbers"),
        (lambda: custom_op("f", lambda x: x, "1"), TypeError, "a function (F, *inputs, out) or a number"),
    ],
)
def test_definition_mistakes_are_named(make: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=None) as caught:
        make()
    assert words in str(caught.value), str(caught.value)


def test_use_mistakes_name_the_op() -> None:
    with pytest.raises(TypeError, match="fma takes 3 operand"):
        fma(1.0, 2.0)
    with pytest.raises(TypeError, match="fma takes 3 operand"):
        jvp(lambda a: fma(a, a), (1.0,), (1.0,))
    with pytest.raises(ValueError, match=r"sqrt_op\(-1.0\)"):
        custom_op("sqrt_op", lambda x: math.sqrt(x), lambda F, x, out: 0.5 / out)(-1.0)
    assert repr(softplus) == "<custom op smooth_relu/1>"
    assert "smooth_relu" not in OP_DOMAINS and "smooth_relu" not in ops.PRIMITIVES  # the table is left alone


def test_an_error_inside_the_derivative_names_the_op_and_the_point() -> None:
    # Raised inside backward(), far from the op: "float division by zero" alone named nothing.
    root = custom_op("root_op", lambda x: math.sqrt(x), lambda F, x, out: 0.5 / out)
    x = Value(0.0)
    out = root(x)
    with pytest.raises(ZeroDivisionError, match=r"^custom op root_op: its derivative at \(0\.0\) failed: "):
        out.backward()
    with pytest.raises(ZeroDivisionError, match="custom op root_op"):
        mg.grad(root)(0.0)
    assert mg.grad(root)(4.0) == 0.25  # where the derivative is defined, nothing changes


def test_a_numpy_float32_result_becomes_a_python_float() -> None:
    unary = custom_op("f32_scale", lambda x: np.float32(x) * np.float32(1.1), 1.1)
    binary = custom_op("f32_mul", lambda x, y: np.float32(x) * np.float32(y), lambda F, x, y, out: (y, x))
    for out in (unary(Value(3.0)), binary(Value(3.0), 1.1), unary(3.0) * 1.0):
        assert type(out.data) is float
    assert unary(3.0).data == float(np.float32(3.0) * np.float32(1.1))
    assert type(jvp(unary, (3.0,), (1.0,))[0]) is float


@pytest.mark.parametrize("bad", [1j, None, "0.5", [1.0]], ids=["complex", "None", "str", "list"])
def test_a_result_that_is_no_real_number_is_a_type_error_naming_the_op(bad: object) -> None:
    unary = custom_op("bad_unary", lambda x: bad, 1.0)
    binary = custom_op("bad_binary", lambda x, y: bad, (1.0, 1.0))
    for call, name in (
        (lambda: unary(Value(1.0)), "bad_unary"),
        (lambda: binary(Value(1.0), 2.0), "bad_binary"),
        (lambda: jvp(unary, (1.0,), (1.0,)), "bad_unary"),
    ):
        with pytest.raises(TypeError, match=rf"custom op {name}: forward must return a real number"):
            call()


def test_the_wrong_number_of_partials_is_a_type_error_naming_the_op() -> None:
    unary = custom_op("two_for_one", lambda x: x, lambda F, x, out: (1.0, 2.0))
    binary = custom_op("one_for_two", lambda x, y: x + y, lambda F, x, y, out: 1.0)
    for call, name in (
        (lambda: unary(Value(1.0)).backward(), "two_for_one"),
        (lambda: binary(Value(1.0), Value(2.0)).backward(), "one_for_two"),
        (lambda: grad(binary)(1.0, 2.0), "one_for_two"),
        (lambda: jvp(binary, (1.0, 2.0), (1.0, 0.0)), "one_for_two"),
        (lambda: binary(Value(1.0), Value(2.0)).backward(create_graph=True), "one_for_two"),
    ):
        with pytest.raises(TypeError, match=rf"custom op {name}: derivative must give \d partial"):
            call()
