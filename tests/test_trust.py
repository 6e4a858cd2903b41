"""Regression tests for issue 8 ("Trust"): the items fixed on this branch, in order.

Run against c9ccabd, the commit before the fixes (a worktree of it on PYTHONPATH), every
item has failing tests here. What passes there too: item 4's single-threaded property (the
old gradients() put every .grad back afterwards; its threaded test fails) and item 17 (the
old gradients() broke the x <-> x.grad cycle by putting .grad back).
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import pickle
import sys
import threading
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, custom_op, grad, hessian, jvp, value_and_grad
from microgrsucc.backward import below
from microgrsucc.testing import gradcheck, gradgradcheck
from microgrsucc.testing.strategies import Graph, graphs

# --- item 5: x**n's slope over the whole float range ---------------------------------------------

SMALLEST_NORMAL = sys.float_info.min


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
def test_the_slopes_issue_8_lists(f: Callable[[Any], Any], x: float, expected: float) -> None:
    got = grad(f)(x)
    assert math.isclose(got, expected, rel_tol=1e-12), (got, expected)  # no absolute tolerance


# --- item 1: transforms, gradients() and create_graph record inside no_grad() -----------------


def test_item_1_transforms_and_create_graph_work_inside_no_grad() -> None:
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


# --- item 2: NaN propagates through every branch ----------------------------------------------


def test_item_2_nan_propagates_through_relu_abs_losses_and_models() -> None:
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


# --- item 4: gradients() and the transforms never touch .grad -------------------------------------


def _every_node(root: Value) -> list[Value]:
    return list(below(root))


@given(graphs(max_ops=5), st.floats(-1e6, 1e6, allow_nan=False))
def test_item_4_gradients_and_every_transform_leave_every_grad_untouched(f: Graph, sentinel: float) -> None:
    params = [Value(x) for x in f.inputs]
    root = f(*params)
    nodes = _every_node(root)
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


def test_item_4_grad_in_one_thread_and_backward_in_another_on_shared_parameters() -> None:
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


# --- item 6: repeated argnums, as JAX -------------------------------------------------------------


def test_item_6_repeated_argnums_give_the_partial_in_each_place() -> None:
    assert grad(lambda a, b: a * b, argnums=(0, 0))(2.0, 3.0) == (3.0, 3.0)  # was (0.0, 3.0)
    assert grad(lambda a, b: a * b, argnums=(0, -2))(2.0, 3.0) == (3.0, 3.0)
    assert value_and_grad(lambda a, b: a * b * b, argnums=(1, 0, 1))(2.0, 3.0) == (18.0, (12.0, 9.0, 12.0))


# --- item 7: float() of a traced Value is refused inside a transform ----------------------------


@pytest.mark.parametrize(
    "convert",
    [float, math.sin, math.exp, int, round, lambda v: v.item()],
    ids=["float", "math.sin", "math.exp", "int", "round", "item"],
)
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "hessian", "jvp"])
def test_item_7_converting_a_traced_value_to_a_number_is_a_type_error(
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


def test_item_7_floats_outside_transforms_and_of_constants_inside_still_work() -> None:
    v = Value(2.5) * 2
    with pytest.warns(UserWarning, match="cut from the graph"):  # they work, and say they cut it
        assert float(v) == v.item() == 5.0 and int(v) == 5 and round(v) == 5 and math.sin(v) == math.sin(5.0)
    c = Value(3.0)
    assert grad(lambda x: x * float(c))(1.0) == 3.0  # c does not depend on x: a constant, allowed
    assert grad(lambda x: x * c.item())(1.0) == 3.0


# --- item 8: derivatives at the values of the forward pass ------------------------------------


def test_item_8_backward_after_a_leaf_changed_uses_the_forward_pass_values() -> None:
    p = Value(1.0, label="p")
    loss = p * p
    loss.backward()
    p.data -= 0.5  # an optimizer step
    loss.backward()
    assert p.grad == 4.0  # 2 * 1.0 twice, as README says; was 3.0 (one pass at 1.0, one at 0.5)
    assert loss.local_grads() == (1.0, 1.0)  # the partials as the forward pass saw them
    q = Value(2.0)
    opt = mg.optim.SGD([q], lr=0.25)
    loss = q * q
    loss.backward()
    opt.step()
    loss.backward()
    assert q.grad == 8.0 and q.data == 1.0


def test_item_8_a_gradient_graph_after_a_leaf_changed_is_refused_naming_it() -> None:
    p = Value(1.0, label="p")
    loss = (p * 3.0).exp()
    p.data = 2.0
    with pytest.raises(RuntimeError, match=r"operand 0 \(p\) of 1.0 \* 3.0 was changed to 2.0"):
        loss.backward(create_graph=True)
    with pytest.raises(RuntimeError, match=r"\(p\)"):
        mg.gradients(loss, [p], create_graph=True)
    p.data = 1.0  # put back: the graph is consistent again
    loss.backward(create_graph=True)
    assert math.isclose(p.grad.data, 3 * math.exp(3.0))


# --- item 9: custom ops are checked on every path ----------------------------------------------


def test_item_9_a_numpy_float32_result_becomes_a_python_float() -> None:
    unary = custom_op("f32_scale", lambda x: np.float32(x) * np.float32(1.1), 1.1)
    binary = custom_op("f32_mul", lambda x, y: np.float32(x) * np.float32(y), lambda F, x, y, out: (y, x))
    for out in (unary(Value(3.0)), binary(Value(3.0), 1.1), unary(3.0) * 1.0):
        assert type(out.data) is float
    assert unary(3.0).data == float(np.float32(3.0) * np.float32(1.1))
    assert type(jvp(unary, (3.0,), (1.0,))[0]) is float


@pytest.mark.parametrize("bad", [1j, None, "0.5", [1.0]], ids=["complex", "None", "str", "list"])
def test_item_9_a_result_that_is_no_real_number_is_a_type_error_naming_the_op(bad: object) -> None:
    unary = custom_op("bad_unary", lambda x: bad, 1.0)
    binary = custom_op("bad_binary", lambda x, y: bad, (1.0, 1.0))
    for call, name in (
        (lambda: unary(Value(1.0)), "bad_unary"),
        (lambda: binary(Value(1.0), 2.0), "bad_binary"),
        (lambda: jvp(unary, (1.0,), (1.0,)), "bad_unary"),
    ):
        with pytest.raises(TypeError, match=rf"custom op {name}: forward must return a real number"):
            call()


def test_item_9_the_wrong_number_of_partials_is_a_type_error_naming_the_op() -> None:
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


# --- item 10: Values and whole graphs pickle -----------------------------------------------------


def _deep_chain(depth: int) -> tuple[Value, Value]:
    x = Value(0.5, label="x")
    y = x
    for _ in range(depth // 2):
        y = (y + x) * x  # two ops deep per round, and no constant leaves to pickle
    return y, x


def _leaves(root: Value) -> list[Value]:
    return sorted((n for n in _every_node(root) if n.is_leaf and n.label), key=lambda n: str(n.label))


def test_item_10_a_100000_deep_graph_pickles_at_the_default_recursion_limit() -> None:
    assert sys.getrecursionlimit() < 100_000
    y, x = _deep_chain(100_000)
    copy = pickle.loads(pickle.dumps(y))
    (x_copy,) = _leaves(copy)
    assert copy.data == y.data and x_copy is not x and x_copy.label == "x"
    y.backward()
    copy.backward()
    assert x_copy.grad == x.grad and math.isfinite(x.grad)


def test_item_10_shared_leaves_stay_shared_and_gradients_survive() -> None:
    a, b = Value(2.0, label="a"), Value(-1.5, label="b")
    out = (a * b + a).tanh() * a
    out.backward(create_graph=True)  # gradients are graphs that lead back to these nodes
    copy_out, copy_a, copy_b = pickle.loads(pickle.dumps((out, a, b)))
    assert _leaves(copy_out) == [copy_a, copy_b]  # one a, however often it is used
    assert copy_a.grad.data == a.grad.data and isinstance(copy_a.grad, Value)
    first_a, first_b = a.grad, copy_a.grad
    a.grad = copy_a.grad = 0.0
    first_a.backward()
    first_b.backward()
    assert copy_a.grad == a.grad  # the pickled gradient graph differentiates like the original
    fresh = Value(2.0)
    assert mg.gradients(pickle.loads(pickle.dumps(fresh * fresh)), [fresh]) == [0.0]  # a copy, not fresh


def _gradient_of(graph: tuple[Value, list[Value]]) -> list[float]:
    root, leaves = graph
    return [float(g) for g in mg.gradients(root, leaves)]


def test_item_10_graphs_go_through_multiprocessing() -> None:
    a, b = Value(0.3, label="a"), Value(0.7, label="b")
    root = (a * b).sin() + a.exp() / b
    expected = mg.gradients(root, [a, b])
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(2) as pool:
        results = pool.map(_gradient_of, [(root, [a, b])] * 2)
    assert results == [expected, expected]


# --- item 15: keyword arguments pass through the transforms ---------------------------------------


def test_item_15_keyword_arguments_pass_through_undifferentiated() -> None:
    def f(x: Any, *, scale: float = 1.0, square: bool = False) -> Any:
        return scale * (x * x if square else x * x * x)

    assert grad(f)(2.0, scale=2.0) == 24.0
    assert grad(f)(2.0, scale=2.0, square=True) == 8.0
    assert value_and_grad(f)(2.0, scale=3.0) == (24.0, 36.0)
    assert hessian(f)(2.0, scale=2.0) == [[24.0]]
    assert jvp(f, (2.0,), (1.0,), scale=0.5) == (4.0, 6.0)


# --- item 17: no reference cycles from gradients() and grad() ---------------------------------


def _live_values() -> int:
    return sum(isinstance(o, Value) for o in gc.get_objects())


def test_item_17_gradients_and_grad_leave_no_reference_cycle() -> None:
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
