"""grad, value_and_grad, hessian: closed forms to third order, random graphs, nesting, errors."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given

import microgrsucc as mg
from microgrsucc import Value, grad, hessian, value_and_grad
from microgrsucc.testing import central_difference, differences_agree
from microgrsucc.testing.strategies import Graph, graphs, reals

# f and its first three derivatives in closed form, with a domain where all are tame.


def _power_of_two_derivative(k: int) -> Callable[[float], float]:
    return lambda x: math.log(2) ** k * 2**x


def S(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


CLOSED_FORMS: dict[str, tuple[Callable[[Any], Any], list[Callable[[float], float]], tuple[float, float]]] = {
    "sin": (mg.sin, [math.cos, lambda x: -math.sin(x), lambda x: -math.cos(x)], (-5, 5)),
    "cos": (lambda x: x.cos(), [lambda x: -math.sin(x), lambda x: -math.cos(x), math.sin], (-5, 5)),
    "exp": (mg.exp, [math.exp, math.exp, math.exp], (-5, 5)),
    "log": (mg.log, [lambda x: 1 / x, lambda x: -1 / x**2, lambda x: 2 / x**3], (0.1, 10)),
    "sqrt": (
        mg.sqrt,
        [lambda x: 0.5 * x**-0.5, lambda x: -0.25 * x**-1.5, lambda x: 0.375 * x**-2.5],
        (0.1, 10),
    ),
    "x**4": (lambda x: x**4, [lambda x: 4 * x**3, lambda x: 12 * x**2, lambda x: 24 * x], (-3, 3)),
    "1/x": (lambda x: 1 / x, [lambda x: -1 / x**2, lambda x: 2 / x**3, lambda x: -6 / x**4], (0.2, 5)),
    "2**x": (lambda x: 2**x, [_power_of_two_derivative(k) for k in (1, 2, 3)], (-3, 3)),
    "tanh": (
        mg.tanh,
        [
            lambda x: 1 - math.tanh(x) ** 2,
            lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2),
            lambda x: (1 - math.tanh(x) ** 2) * (6 * math.tanh(x) ** 2 - 2),
        ],
        (-3, 3),
    ),
    "sigmoid": (
        mg.sigmoid,
        [
            lambda x: S(x) * (1 - S(x)),
            lambda x: S(x) * (1 - S(x)) * (1 - 2 * S(x)),
            lambda x: S(x) * (1 - S(x)) * (1 - 6 * S(x) + 6 * S(x) ** 2),
        ],
        (-5, 5),
    ),
    "x*exp(-x)": (
        lambda x: x * (-x).exp(),
        [
            lambda x: (1 - x) * math.exp(-x),
            lambda x: (x - 2) * math.exp(-x),
            lambda x: (3 - x) * math.exp(-x),
        ],
        (-3, 3),
    ),
}


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@given(t=reals(0, 1))
def test_nested_grad_matches_closed_forms_to_third_order(name: str, t: float) -> None:
    f, derivatives, (lo, hi) = CLOSED_FORMS[name]
    x = lo + t * (hi - lo)
    df = grad(f)
    for k, expected in enumerate(derivatives):
        got = df(x)
        assert type(got) is float  # the outermost call gives a plain float
        assert close(got, expected(x)), (name, x, k + 1, got, expected(x))
        df = grad(df)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@given(t=reals(0, 1))
def test_backward_with_create_graph_matches_closed_forms_to_third_order(name: str, t: float) -> None:
    f, derivatives, (lo, hi) = CLOSED_FORMS[name]
    x = Value(lo + t * (hi - lo))
    out = f(x)
    for expected in derivatives:
        x.grad = 0.0
        out.backward(create_graph=True)
        out = x.grad
        assert isinstance(out, Value)
        assert close(out.data, expected(x.data))


def test_argnums_tuple_gives_a_tuple_of_partials() -> None:
    f = lambda x, y, z: x * y * y + mg.sin(z)
    assert grad(f, argnums=(0, 2))(2.0, 3.0, 0.0) == (9.0, 1.0)
    assert grad(f, argnums=1)(2.0, 3.0, 0.0) == 12.0
    assert grad(f, argnums=-1)(2.0, 3.0, 0.0) == 1.0
    assert grad(f, argnums=(1,))(2.0, 3.0, 0.0) == (12.0,)


def test_value_and_grad() -> None:
    value, derivative = value_and_grad(lambda x: x * mg.exp(x))(1.0)
    assert (type(value), type(derivative)) == (float, float)
    assert close(value, math.e) and close(derivative, 2 * math.e)
    assert value_and_grad(lambda x, y: x / y, argnums=(0, 1))(1.0, 2.0) == (0.5, (0.5, -0.25))


def test_values_in_give_connected_values_out() -> None:
    w = Value(3.0)
    w.grad = 5.0
    value, dw = value_and_grad(lambda x: x**3)(w)
    assert isinstance(value, Value) and isinstance(dw, Value)
    assert (value.data, dw.data) == (27.0, 27.0)
    assert w.grad == 5.0  # grad leaves every .grad as it was
    w.grad = 0.0
    dw.backward()  # d/dw 3 w^2 = 6 w: the derivative is a graph over w
    assert w.grad == 18.0


def test_constant_functions_and_unused_arguments_give_zero() -> None:
    assert grad(lambda x: 3.0)(1.0) == 0.0
    assert grad(lambda x, y: x * 2, argnums=1)(1.0, 2.0) == 0.0
    assert grad(lambda x: x)(4.0) == 1.0
    assert grad(grad(lambda x: x))(4.0) == 0.0
    assert grad(grad(grad(lambda x: x * x)))(4.0) == 0.0


def test_an_inner_grad_sees_the_outer_variable_through_a_closure() -> None:
    # d/dx [d/dy (x*y)] = 1: the inner result must stay connected to x (JAX gives 1 too).
    assert grad(lambda x: grad(lambda y: x * y)(1.0))(2.0) == 1.0
    # The inner partial in y must not count x's uses when y is x: d/dx (x + 2x) = 3, not 4.
    assert grad(lambda x: grad(lambda y: x * y + y * y)(x))(2.0) == 3.0
    # The same Value as two arguments: two partials, not the total derivative twice.
    assert grad(lambda x: mg.Value(0.0) + grad(lambda a, b: a * b * b, argnums=0)(x, x))(3.0) == 6.0


def test_mixed_partials_by_nesting_over_different_arguments() -> None:
    f = lambda x, y: mg.sin(x * y)
    dxy = grad(grad(f, argnums=0), argnums=1)(0.5, 2.0)
    expected = math.cos(1.0) - 1.0 * math.sin(1.0)  # d/dy (y cos(xy)) = cos(xy) - xy sin(xy)
    assert close(dxy, expected)
    assert close(dxy, hessian(f)(0.5, 2.0)[0][1])


def test_hessian_closed_form() -> None:
    h = hessian(lambda x, y: x * x * y + mg.exp(y))(3.0, 0.0)
    assert h == [[0.0, 6.0], [6.0, 1.0]]
    assert all(type(e) is float for row in h for e in row)
    assert hessian(lambda x: x**3)(2.0) == [[12.0]]


@given(graphs(max_ops=5))
def test_hessian_on_random_graphs_matches_differences_of_the_gradient(f: Graph) -> None:
    xs = list(f.inputs)
    h = hessian(f)(*xs)
    n = len(xs)
    assert len(h) == n and all(len(row) == n for row in h)
    assume(all(differences_agree(grad(f, argnums=i), xs, -1) for i in range(n)))  # else they cannot judge
    for i in range(n):
        row_numeric = [central_difference(grad(f, argnums=i), xs, j) for j in range(n)]
        for j in range(n):
            assert math.isclose(h[i][j], row_numeric[j], rel_tol=1e-3, abs_tol=1e-5), (i, j, h, f)
            assert math.isclose(h[i][j], h[j][i], rel_tol=1e-9, abs_tol=1e-12)


@given(graphs(max_ops=5))
def test_grad_on_random_graphs_agrees_with_backward(f: Graph) -> None:
    leaves = [Value(x) for x in f.inputs]
    f(*leaves).backward()
    assert list(grad(f, argnums=tuple(range(len(leaves))))(*f.inputs)) == [v.grad for v in leaves]


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: grad(lambda x: x, argnums=1)(1.0), ValueError, "argnums 1 is out of range"),
        (lambda: grad(lambda x: x, argnums=())(1.0), TypeError, "argnums"),
        (lambda: grad(lambda x: x, argnums=1.0)(1.0), TypeError, "argnums"),  # type: ignore[arg-type]
        (lambda: grad(lambda x: [x])(1.0), TypeError, "grad: f must return a scalar"),
        (lambda: grad(lambda x: x)("1"), TypeError, "grad: argument 0 expects a real number, got str"),
        (lambda: value_and_grad(lambda x: None)(1.0), TypeError, "value_and_grad: f must return"),
        (lambda: hessian(lambda x: mg.log(x))(-1.0), ValueError, "log(-1.0)"),
    ],
)
def test_mistakes_are_named(call: Callable[[], Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error) as caught:
        call()
    assert words in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: float(f"{x:.17g}") * x,  # formatting is a conversion too
        lambda x: float(format(x * 2, "f")),
        lambda x: copy.deepcopy(x),  # the copy would be cut from the input: derivative 0
        lambda x: pickle.loads(pickle.dumps(x * x)),
    ],
)
def test_formatting_or_copying_a_traced_value_is_a_type_error(f: Callable[[Any], Any]) -> None:
    with pytest.raises(TypeError, match="depends on the input of grad"):
        grad(f)(3.0)


def test_formatting_and_copying_values_that_do_not_depend_on_the_input_still_work() -> None:
    c = Value(2.0) * 1.5
    assert grad(lambda x: x * float(f"{c:.17g}"))(1.0) == 3.0
    assert grad(lambda x: x * copy.deepcopy(c))(1.0) == 3.0
    assert grad(lambda x: f"{x}" and x)(1.0) == 1.0  # the repr is no number to read back
