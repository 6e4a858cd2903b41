"""grad, value_and_grad, hessian: closed forms to third order, random graphs, nesting, errors;
and what the transforms leave alone: .grad, the no_grad mode, keyword arguments, no cycles."""

from __future__ import annotations

import copy
import gc
import math
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, custom_op, grad, hessian, jvp, value_and_grad
from microgrsucc.backward import below
from microgrsucc.testing import central_difference, differences_agree, gradcheck, gradgradcheck
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


def test_a_result_computed_under_an_inner_no_grad_has_gradient_zero() -> None:
    # As torch.func.grad, which respects a no_grad inside f: the result is cut from x.
    def f(x: Value) -> Value:
        with mg.no_grad():
            return x * 3

    assert mg.grad(f)(2.0) == 0.0 and mg.value_and_grad(f)(2.0) == (6.0, 0.0)
    assert mg.hessian(f)(2.0) == [[0.0]]
    inner = mg.grad(f)(Value(2.0))
    assert isinstance(inner, Value) and inner.data == 0.0


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
    # The gradient is rounded at the largest value or gradient of f's graph, so its
    # differences over a step of 1e-6 are no closer than that allows (test_forward's jvp too).
    leaves = [Value(x) for x in xs]
    out = f(*leaves)
    out.backward()
    nodes = below(out)
    largest = max((abs(x) for v in nodes for x in (v.data, v.grad or 0.0) if math.isfinite(x)), default=0.0)
    tolerance = max(1e-5, 64.0 * largest * 2.0**-52 / 1e-6)
    for i in range(n):
        row_numeric = [central_difference(grad(f, argnums=i), xs, j) for j in range(n)]
        for j in range(n):
            assert math.isclose(h[i][j], row_numeric[j], rel_tol=1e-3, abs_tol=tolerance), (i, j, h, f)
            assert math.isclose(h[i][j], h[j][i], rel_tol=1e-9, abs_tol=1e-12)


@given(graphs(max_ops=5))
def test_grad_on_random_graphs_agrees_with_backward(f: Graph) -> None:
    leaves = [Value(x) for x in f.inputs]
    f(*leaves).backward()
    # grad() gives 0.0 for an input f does not use (as JAX); backward() leaves its grad None (as PyTorch).
    expected = [0.0 if v.grad is None else v.grad for v in leaves]
    assert list(grad(f, argnums=tuple(range(len(leaves))))(*f.inputs)) == expected


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


def test_transforms_and_create_graph_work_inside_no_grad() -> None:
    # The F.value makes this cube's second derivative wrong (a constant).
    flat = custom_op("flat_cube", lambda x: x**3, lambda F, x, out: 3.0 * F.value(x) ** 2)
    x = Value(2.0)
    y = x**3  # recorded outside
    with mg.no_grad():
        assert grad(lambda v: v**3)(2.0) == 12.0  # was 0.0
        assert grad(grad(lambda v: v**3))(2.0) == 12.0
        assert hessian(lambda a, b: a * a * b)(3.0, 5.0) == [[10.0, 6.0], [6.0, 0.0]]  # was zeros
        assert value_and_grad(lambda v: v**3)(2.0) == (8.0, 12.0)
        assert gradcheck(lambda v: v**3, 2.0)  # was a false error
        assert gradgradcheck(flat, 1.5, raise_exception=False) is False  # was a false True
        first = mg.gradients(y, [x], create_graph=True)[0]
        assert isinstance(first, Value) and mg.gradients(first, [x]) == [12.0]
        y.backward(create_graph=True)  # torch builds the gradient graph here too
        assert isinstance(x.grad, Value) and not x.grad.is_leaf
        second_from = x.grad
        x.grad = 0.0
        second_from.backward()
        assert x.grad == 12.0
        assert (x * x).is_leaf  # and no_grad still holds for the caller's own ops
    assert mg.is_grad_enabled()


@given(graphs(max_ops=5), st.floats(-1e6, 1e6, allow_nan=False))
def test_gradients_and_every_transform_leave_every_grad_untouched(f: Graph, sentinel: float) -> None:
    params = [Value(x) for x in f.inputs]
    root = f(*params)
    nodes = list(below(root))
    for k, node in enumerate(nodes):
        node.grad = sentinel + k
    n = tuple(range(len(params)))
    mg.gradients(root, params)
    mg.gradients(root, params, create_graph=True)
    grad(f, argnums=n)(*params)  # the parameters themselves as arguments
    value_and_grad(lambda t: f(*params) * t)(1.0)  # and reached through a closure
    hessian(f)(*params)
    grad(grad(lambda t: f(*params) * t * t))(1.0)
    jvp(lambda t: f(*params) * t, (1.0,), (1.0,))
    gradcheck(lambda t: f(*params) * t, 1.0, raise_exception=False)
    assert [node.grad for node in nodes] == [sentinel + k for k in range(len(nodes))]


def test_grad_in_one_thread_and_backward_in_another_on_shared_parameters() -> None:
    params = [Value(float(k % 7 - 3), label=f"w{k}") for k in range(30)]
    rounds = 300
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def accumulate() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                sum((w * w for w in params), Value(0.0)).backward()  # each adds 2w to w.grad
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    def differentiate() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                cubes = sum((w * w * w for w in params), Value(0.0))
                assert mg.gradients(cubes, params) == [3 * w.data**2 for w in params]
                grad(lambda *ws: sum((w * w * w for w in ws), Value(0.0)), argnums=(0, 1))(*params)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=accumulate), threading.Thread(target=differentiate)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert [w.grad for w in params] == [rounds * 2 * w.data for w in params]  # exact: small integers


def test_repeated_argnums_give_the_partial_in_each_place() -> None:
    assert grad(lambda a, b: a * b, argnums=(0, 0))(2.0, 3.0) == (3.0, 3.0)  # was (0.0, 3.0)
    assert grad(lambda a, b: a * b, argnums=(0, -2))(2.0, 3.0) == (3.0, 3.0)
    assert value_and_grad(lambda a, b: a * b * b, argnums=(1, 0, 1))(2.0, 3.0) == (18.0, (12.0, 9.0, 12.0))


@pytest.mark.parametrize(
    "convert",
    [float, math.sin, math.exp, int, round, lambda v: v.item()],
    ids=["float", "math.sin", "math.exp", "int", "round", "item"],
)
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "hessian", "jvp"])
def test_converting_a_traced_value_to_a_number_is_a_type_error(
    convert: Callable[[Any], Any], transform: str
) -> None:
    f = lambda v: convert(v * 2) * v  # the lost derivative would be silent
    calls = {
        "grad": lambda: grad(f)(1.0),
        "value_and_grad": lambda: value_and_grad(f)(1.0),
        "hessian": lambda: hessian(f)(1.0),
        "jvp": lambda: jvp(f, (1.0,), (1.0,)),
    }
    with pytest.raises(TypeError) as caught:
        calls[transform]()
    message = str(caught.value)
    assert "microgrsucc.sin" in message and "lose its derivative" in message, message


def test_floats_outside_transforms_and_of_constants_inside_still_work() -> None:
    v = Value(2.5) * 2
    with pytest.warns(UserWarning, match="cut from the graph"):  # they work, and say they cut it
        assert float(v) == v.item() == 5.0 and int(v) == 5 and round(v) == 5 and math.sin(v) == math.sin(5.0)
    c = Value(3.0)
    assert grad(lambda x: x * float(c))(1.0) == 3.0  # c does not depend on x: a constant, allowed
    assert grad(lambda x: x * c.item())(1.0) == 3.0


def test_keyword_arguments_pass_through_undifferentiated() -> None:
    def f(x: Any, *, scale: float = 1.0, square: bool = False) -> Any:
        return scale * (x * x if square else x * x * x)

    assert grad(f)(2.0, scale=2.0) == 24.0
    assert grad(f)(2.0, scale=2.0, square=True) == 8.0
    assert value_and_grad(f)(2.0, scale=3.0) == (24.0, 36.0)
    assert hessian(f)(2.0, scale=2.0) == [[24.0]]
    assert jvp(f, (2.0,), (1.0,), scale=0.5) == (4.0, 6.0)


def _live_values() -> int:
    return sum(isinstance(o, Value) for o in gc.get_objects())


def test_gradients_and_grad_leave_no_reference_cycle() -> None:
    gc.collect()
    gc.disable()
    try:
        before = _live_values()
        x = Value(1.5)
        y = x**3 + x.sin()
        first = mg.gradients(y, [x], create_graph=True)[0]
        mg.gradients(first, [x])
        grad(grad(lambda v: v**3 * v.tanh()))(x)
        hessian(lambda a, b: a * b * b)(x, Value(2.0))
        del x, y, first
        assert _live_values() == before  # freed by reference counting alone
        # backward(create_graph=True) does make one (x <-> x.grad), as README says.
        x = Value(1.5)
        (x**3).backward(create_graph=True)
        del x
        assert _live_values() > before
    finally:
        gc.enable()
    gc.collect()
    assert _live_values() == before


def test_jvp_inside_jvp_is_refused_rather_than_mixing_tangents() -> None:
    # d/dx of (d/dy y*y*x at y=3) = d/dx 6x = 6: nesting mixed the two tangents and gave 0.0.
    with pytest.raises(TypeError, match="jvp cannot run inside jvp"):
        jvp(lambda x: jvp(lambda y: y * y * x, (3.0,), (1.0,))[1], (2.0,), (1.0,))
    assert jvp(lambda y: y * y * 2.0, (3.0,), (1.0,)) == (18.0, 12.0)  # the state was reset


# A Value argument is the same point as its number: -0.0 included (atan2(-0.0, -1) is -pi,
# atan2(0.0, -1) is pi), so every transform gives the same numbers, bit for bit, for both.
SIGNED_ZERO_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "atan2(x, -1) * y": lambda x, y: mg.atan2(x, -1.0) * y,
    "sqrt(x) + y": lambda x, y: mg.sqrt(x) + y,
    "x * y": lambda x, y: x * y,
}


def _bits(x: Any) -> str:
    return repr(x.data if isinstance(x, Value) else x)


@pytest.mark.parametrize("name", sorted(SIGNED_ZERO_FUNCTIONS))
@given(x=st.sampled_from([-0.0, 0.0, 1.5, 4.0]), y=st.sampled_from([-0.0, 1.0, -3.0]))
def test_value_arguments_give_bit_for_bit_the_numbers_plain_arguments_give(
    name: str, x: float, y: float
) -> None:
    f = SIGNED_ZERO_FUNCTIONS[name]
    plain_value, plain_grads = value_and_grad(f, argnums=(0, 1))(x, y)
    value, grads = value_and_grad(f, argnums=(0, 1))(Value(x), Value(y))
    assert _bits(value) == _bits(plain_value) == _bits(f(Value(x), Value(y)))
    assert [_bits(g) for g in grads] == [_bits(g) for g in plain_grads]
    plain_h, h = hessian(f)(x, y), hessian(f)(Value(x), Value(y))
    assert [[_bits(e) for e in row] for row in h] == [[_bits(e) for e in row] for row in plain_h]


def test_the_partial_at_a_value_minus_zero_is_torchs() -> None:
    # torch.func.grad(lambda x, y: torch.atan2(x, -1) * y, argnums=(0, 1))(-0.0, 1.0) is (-1.0, -pi)
    assert [g.data for g in grad(lambda x, y: mg.atan2(x, -1.0) * y, argnums=(0, 1))(Value(-0.0), 1.0)] == [
        -1.0,
        -math.pi,
    ]


# --- hessian of x ** y at a negative base ------------------------------------------------------
# There x ** y exists only at integer y: d/dy (out * log x) is NaN, and so is every second
# partial that differentiates in y; d²/dx² is y (y - 1) x**(y - 2), the closed form. The matrix
# is symmetric. (torch.func.hessian is NaN in all four, its d²/dx² picking up 0 * NaN from the
# y path; at x > 0 it is the reference.)


def _same(got: float, want: float) -> bool:
    return got == want or (math.isnan(got) and math.isnan(want)) or math.isclose(got, want, rel_tol=1e-12)


def _check_power_hessian(torch: Any, x: float, y: float) -> None:
    got = hessian(lambda a, b: a**b)(x, y)
    if x < 0.0:
        want = [[y * (y - 1.0) * x ** (y - 2.0), math.nan], [math.nan, math.nan]]
    else:
        d = torch.float64
        h = torch.func.hessian(lambda a, b: a**b, argnums=(0, 1))(
            torch.tensor(x, dtype=d), torch.tensor(y, dtype=d)
        )
        want = [[h[i][j].item() for j in range(2)] for i in range(2)]
    for i in range(2):
        for j in range(2):
            assert _same(got[i][j], want[i][j]), (
                f"d2/d{'xy'[i]}d{'xy'[j]} of x**y at ({x}, {y}): ours {got[i][j]}, expected {want[i][j]}"
            )


@st.composite
def _power_points(draw: st.DrawFn) -> tuple[float, float]:
    negative = draw(st.booleans())
    x = draw(st.one_of(reals(-3.0, -0.1), st.sampled_from([-1.0, -2.5])) if negative else reals(0.1, 3.0))
    y = draw(st.integers(-3, 3).map(float) if negative else st.integers(-3, 3).map(float) | reals(-3.0, 3.0))
    # At y == 0 torch masks d/dx x**y to 0, dropping its derivative in y; the engine keeps it
    # on purpose (tests/test_reference_torch.py, zero_exponent).
    assume(negative or y != 0.0)
    return x, y


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func's own imports warn
@settings(max_examples=10)
@given(_power_points())
def test_hessian_of_a_power_is_symmetric_and_nan_where_the_base_is_negative(xy: tuple[float, float]) -> None:
    _check_power_hessian(pytest.importorskip("torch"), *xy)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=2000)
@given(_power_points())
def test_hessian_of_a_power_thoroughly(xy: tuple[float, float]) -> None:
    _check_power_hessian(pytest.importorskip("torch"), *xy)


@pytest.mark.parametrize(("primals", "tangents"), [(3.0, 1.0), ((3.0,), 1.0), (3.0, (1.0,)), (None, None)])
def test_jvp_of_primals_or_tangents_that_are_not_sequences_is_a_type_error_naming_jvp(
    primals: Any, tangents: Any
) -> None:
    # They raised "object of type 'float' has no len()".
    with pytest.raises(TypeError, match=r"^jvp: primals and tangents must be sequences of numbers"):
        jvp(lambda x: x * x, primals, tangents)


def test_jvp_takes_numpy_arrays_as_sequences() -> None:
    np = pytest.importorskip("numpy")
    assert jvp(lambda x, y: x * y, np.array([3.0, 2.0]), np.array([1.0, 0.5])) == (6.0, 3.5)
