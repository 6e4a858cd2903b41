"""Value construction, the recorded graph, backward() semantics, no_grad, detach, errors, and the
Python idioms users type first (format specs, comparisons, max, dict keys)."""

from __future__ import annotations

import gc
import math
import sys
import threading
import tracemalloc
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given

import microgrsucc as mg
from microgrsucc import Value
from microgrsucc.testing.strategies import reals

# --- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, expected",
    [
        (3, 3.0),
        (2.5, 2.5),
        (np.float64(1.5), 1.5),
        (np.int64(7), 7.0),
        (Fraction(1, 4), 0.25),
        (Decimal("0.5"), 0.5),
    ],
)
def test_data_is_stored_as_a_python_float(number: Any, expected: float) -> None:
    v = Value(number)
    assert type(v.data) is float and v.data == expected
    assert v.grad is None  # no gradient yet, as in PyTorch
    assert v.label is None and v.op is None and v.inputs == () and v.is_leaf


@pytest.mark.parametrize("bad", [True, "1.0", None, 1j, [1.0], {"a": 1}, (1.0,)])
def test_non_real_data_is_a_type_error_naming_the_type(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)  # type: ignore[arg-type]


def test_an_int_too_large_for_a_float_is_an_overflow_error() -> None:
    with pytest.raises(OverflowError, match="too large for a float"):
        Value(10**400)


def test_a_value_converts_to_a_plain_float() -> None:
    v = Value(2.5) * 2
    with pytest.warns(UserWarning, match=r"\.item\(\)"):  # it cuts the graph, as torch warns
        assert float(v) == v.item() == 5.0 and type(float(v)) is float
    with pytest.raises(TypeError, match="Value"):
        Value(v)  # a node is not silently copied into a new leaf; use detach()


def test_grad_and_label_are_assignable_and_shown() -> None:
    v = Value(2.0, label="w")
    v.grad = 0.5
    v.label = "weight"
    assert repr(v) == "Value(data=2.0, grad=0.5, label='weight')"


def test_op_and_inputs_are_recorded_in_operand_order() -> None:
    a, b = Value(1.0), Value(2.0)
    c = a - b
    assert c.op == "-" and c.inputs == (a, b) and not c.is_leaf
    d = 5 - a
    assert d.inputs[1] is a and d.inputs[0].data == 5.0
    sq = a * a
    assert sq.inputs == (a, a)  # a reused operand is kept twice, in order
    assert a.tanh().op == "tanh"
    assert (a**2).op == "**2"


def test_arithmetic_with_plain_numbers_on_either_side() -> None:
    x = Value(4.0)
    results = [x + 1, 1 + x, x - 1, 1 - x, x * 2, 2 * x, x / 2, 2 / x, x**2, 2**x, -x, +x, abs(-x)]
    assert [r.data for r in results] == [5.0, 5.0, 3.0, -3.0, 8.0, 8.0, 2.0, 0.5, 16.0, 16.0, -4.0, 4.0, 4.0]
    assert (np.float64(2.0) * x).data == 8.0 and isinstance(np.float64(2.0) * x, Value)
    assert (Fraction(1, 2) + x).data == 4.5


def test_augmented_assignment_builds_a_new_node() -> None:
    a = Value(1.0)
    first = a
    a += 2
    assert a is not first and first.data == 1.0 and a.data == 3.0 and a.inputs[0] is first


def test_module_functions_take_values_and_numbers() -> None:
    for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu"):
        fn = getattr(mg, name)
        from_number, from_value = fn(2.0), fn(Value(2.0))
        assert isinstance(from_number, Value) and from_number.data == from_value.data
        assert from_value.op == name


# --- backward semantics ----------------------------------------------------------------------------


def test_reused_nodes_sum_their_paths() -> None:
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    a = Value(1.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0 and b.grad == 2.0 and c.grad == 1.0


def test_second_backward_doubles_leaves_and_keeps_interior_grads() -> None:
    a = Value(2.0)
    b = a * a
    c = b + b
    c.backward()
    assert (a.grad, b.grad, c.grad) == (8.0, 2.0, 1.0)
    c.backward()
    assert (a.grad, b.grad, c.grad) == (16.0, 2.0, 1.0)  # micrograd gives b.grad == 4
    mg.zero_grad([a])
    c.backward()
    assert a.grad == 8.0


def test_interior_grads_hold_the_latest_root() -> None:
    x = Value(2.0)
    h = x * 3
    y1 = h * 2
    y2 = h * 5
    y1.backward()
    assert h.grad == 2.0
    y2.backward()
    assert h.grad == 5.0 and x.grad == 6.0 + 15.0


def test_backward_on_a_leaf_and_with_a_seed_gradient() -> None:
    x = Value(1.0)
    x.backward()
    assert x.grad == 1.0
    y = Value(3.0)
    (y * y).backward(gradient=0.5)
    assert y.grad == 3.0
    with pytest.raises(TypeError, match="backward"):
        (y * y).backward(gradient="1")


def test_a_value_seed_gradient_without_create_graph_gives_plain_gradients() -> None:
    # As torch: backward(gradient=t) with t requiring grad leaves x.grad a plain tensor (12,
    # no grad_fn) unless create_graph; the gradients here were Values with a graph back to t.
    seed = Value(2.0)
    x = Value(3.0)
    (x.sin() * x).backward(seed)
    assert type(x.grad) is float and x.grad == 2.0 * (math.cos(3.0) * 3.0 + math.sin(3.0))
    leaf = Value(1.0)
    leaf.backward(seed)
    assert type(leaf.grad) is float and leaf.grad == 2.0
    assert type(mg.gradients(x * x, x, seed)) is float
    x.grad = None
    (x * x).backward(seed, create_graph=True)  # with it, the seed's graph is followed
    assert isinstance(x.grad, Value) and mg.gradients(x.grad, seed) == 6.0


# 50 times the recursion limit in the quick run; README's million under -m slow.
@pytest.mark.parametrize("depth", [50_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_a_chain_far_past_the_default_recursion_limit(depth: int) -> None:
    assert sys.getrecursionlimit() * 50 <= depth  # far deeper than recursion could go
    x = Value(0.5)
    y = x
    for _ in range(depth):
        y = y + x
    y.backward()
    assert y.data == 0.5 * (depth + 1)
    assert x.grad == depth + 1.0
    del y  # freeing a deep chain must not overflow the C stack either


def test_a_dropped_graph_is_freed_without_the_cyclic_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        w = Value(0.3)
        out = w
        for _ in range(10_000):
            out = (out * w + 1).tanh()
        out.backward()
        grown = tracemalloc.get_traced_memory()[0] - before
        del out
        after = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert grown > 10_000 * 100  # the graph was really there ...
        assert after < 10_000  # ... and reference counting alone freed it
        assert gc.collect() == 0  # nothing was left for the cycle collector
    finally:
        gc.enable()


def test_a_node_costs_at_most_136_bytes() -> None:
    def traced_bytes(n: int) -> int:
        x = Value(0.5)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(n):
            y = y.tanh()
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        del y
        return used

    # Other allocations can only add to a reading, so the least of three is the node's cost:
    # the object with its 10 slots (112 bytes) and its float (24), which the recorded output
    # shares with .data.
    per_node = min(traced_bytes(10_000) for _ in range(3)) / 10_000
    assert per_node <= 136, per_node


@given(reals(-3, 3), reals(-3, 3))
def test_gradients_function_leaves_grads_untouched(x: float, y: float) -> None:
    a, b = Value(x), Value(y)
    a.grad = 7.0
    h = a * b
    out = h + a
    da, db, dh = mg.gradients(out, [a, b, h])
    assert math.isclose(da, y + 1.0, rel_tol=1e-12, abs_tol=1e-12)
    assert db == x and dh == 1.0
    assert a.grad == 7.0 and b.grad is None and h.grad is None
    assert mg.gradients(out, [Value(1.0)]) == [0.0]


def test_create_graph_gives_differentiable_gradients() -> None:
    x = Value(0.7)
    y = x**3 + x.sin()
    y.backward(create_graph=True)
    first = x.grad
    assert isinstance(first, Value)
    assert math.isclose(first.data, 3 * 0.7**2 + math.cos(0.7))
    x.grad = 0.0
    first.backward()
    assert math.isclose(x.grad, 6 * 0.7 - math.sin(0.7))


# --- no_grad and detach ----------------------------------------------------------------------------


def test_no_grad_records_nothing_and_nests() -> None:
    x = Value(2.0)
    assert mg.is_grad_enabled()
    with mg.no_grad():
        with mg.no_grad():
            inner = x * x
        outer = inner + x
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert inner.is_leaf and outer.is_leaf and outer.data == 6.0
    recorded = x * x
    assert recorded.inputs == (x, x)


def test_no_grad_as_a_decorator() -> None:
    @mg.no_grad()
    def square(v: Value) -> Value:
        return v * v

    assert square(Value(3.0)).is_leaf


def test_no_grad_is_per_thread() -> None:
    x = Value(1.0)
    inside = threading.Event()
    release = threading.Event()
    seen: list[Value] = []

    def other_thread() -> None:
        inside.wait()
        try:
            seen.append(x + 1)  # another thread's no_grad() must not reach this op
        finally:
            release.set()  # whatever happened: the main thread must not wait forever

    t = threading.Thread(target=other_thread)
    t.start()
    with mg.no_grad():
        inside.set()
        release.wait()  # no timeout: the op above runs while this thread is inside no_grad()
        mine = x + 1
    t.join()
    assert mine.is_leaf and len(seen) == 1 and not seen[0].is_leaf


def test_detach_cuts_the_graph() -> None:
    x = Value(3.0)
    y = x * x
    d = y.detach()
    assert d.is_leaf and d.data == 9.0
    (d * x).backward()
    assert x.grad == 9.0  # no gradient flowed through the detached square


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: Value(0).log(), ValueError, "log(0.0)"),
        (lambda: Value(-1).log(), ValueError, "log(-1.0)"),
        (lambda: mg.log(-1), ValueError, "log(-1.0)"),
        (lambda: Value(-4).sqrt(), ValueError, "sqrt(-4.0)"),
        (lambda: Value(-8) ** (1 / 3), ValueError, "-8.0"),
        (lambda: Value(-8) ** Value(0.5), ValueError, "-8.0 ** 0.5"),
        (lambda: Value(1) / 0, ZeroDivisionError, "1.0 / 0.0"),
        (lambda: 1 / Value(0), ZeroDivisionError, "1.0 / 0.0"),
        (lambda: Value(0) ** -1, ZeroDivisionError, "0.0"),
        (lambda: Value(1000).exp(), OverflowError, "exp(1000.0)"),
        (lambda: Value(10.0) ** 400, OverflowError, "10.0"),
        (lambda: Value(1) + "a", TypeError, "'Value' and 'str'"),
        (lambda: "a" + Value(1), TypeError, "Value"),  # str's own message
        (lambda: Value(1) * None, TypeError, "NoneType"),
        (lambda: Value(1) + True, TypeError, "bool"),
        (lambda: mg.exp("x"), TypeError, "exp expects a real number, got str"),
    ],
)
def test_bad_input_names_the_op_and_operand(make: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as caught:
        make()
    message = str(caught.value)
    assert words in message, message
    assert "math domain error" not in message and "complex" not in type(caught.value).__name__


def test_a_failing_backward_leaves_the_graph_usable() -> None:
    def broken(F: Any, x: Any, out: Any) -> float:
        raise RuntimeError("derivative failed")

    bad = mg.custom_op("bad", lambda x: x, broken)
    x = Value(2.0)
    h = x * x
    with pytest.raises(RuntimeError):
        (bad(h) + h).backward()
    (h + h).backward()  # no node is left waiting on the failed pass
    assert h.grad == 2.0 and x.grad == 8.0


# --- derivatives at the values of the forward pass, outputs included --------------------------
# Expected numbers: the closed-form derivative at the forward pass's values.


@pytest.mark.parametrize(
    ("op", "x", "slope"),
    [
        (lambda v: v.sigmoid(), 0.3, (1 / (1 + math.exp(-0.3))) * (1 - 1 / (1 + math.exp(-0.3)))),
        (lambda v: v.tanh(), 0.3, 1 - math.tanh(0.3) ** 2),
        (lambda v: v.exp(), 0.3, math.exp(0.3)),
        (lambda v: v.sqrt(), 0.3, 0.5 / math.sqrt(0.3)),
        (lambda v: 1.0 / v, 0.3, -1 / 0.3**2),
        (lambda v: v**2.5, 0.3, 2.5 * 0.3**1.5),
    ],
)
def test_changing_an_op_results_data_after_the_forward_pass_leaves_its_gradient(
    op: Any, x: float, slope: float
) -> None:
    a = Value(x)
    b = op(a)
    c = b * 3
    b.data = 2.0  # as torch, the derivative is taken at what the forward pass saw
    c.backward()
    assert math.isclose(a.grad, 3 * slope, rel_tol=1e-12)
    root_input = Value(x)
    root = op(root_input)
    root.data = 0.0  # the root too
    root.backward()
    assert math.isclose(root_input.grad, slope, rel_tol=1e-12)
    assert math.isclose(root.local_grads()[-1], slope, rel_tol=1e-12)


def test_a_gradient_graph_after_an_op_results_data_changed_is_refused() -> None:
    a = Value(0.3)
    b = a.exp()
    c = b * 3
    b.data = 2.0
    with pytest.raises(RuntimeError, match=r"was changed to 2.0 after the forward pass"):
        c.backward(create_graph=True)


# --- no_grad results are not leaves the user made ---------------------------------------------


def test_backward_on_a_result_computed_under_no_grad_is_a_runtime_error() -> None:
    x = Value(2.0)
    with mg.no_grad():
        y = x * 3
    assert y.is_leaf and y.data == 6.0
    with pytest.raises(RuntimeError, match=r"computed by '\*' under no_grad\(\)"):
        y.backward()
    assert x.grad in (0.0, None)
    leaf = Value(2.0)
    leaf.backward()  # a leaf the user made still works, as torch's requires_grad leaf
    assert leaf.grad == 1.0
    z = x * 3  # recording again
    z.backward()
    assert x.grad == 3.0


def test_gradients_of_a_result_computed_under_no_grad_is_a_runtime_error() -> None:
    # As torch.autograd.grad ("does not require grad"), and as backward() above: a gradient
    # of 0 for every input would look like a loss that does not depend on them.
    x = Value(2.0)
    with mg.no_grad():
        y = x * 3
    for create_graph in (False, True):
        with pytest.raises(RuntimeError, match=r"^gradients: .*computed by '\*' under no_grad\(\)"):
            mg.gradients(y, x, create_graph=create_graph)
    assert mg.gradients(Value(2.0), x) == 0.0  # a leaf the user made is a constant root


# --- in-place operators: .data in place under no_grad, a node otherwise ------------------------


def test_in_place_operators_under_no_grad_update_data_in_place() -> None:
    p = Value(1.0)
    h = p * 2.0
    loss = h * h
    loss.backward()  # d(4p^2)/dp = 8p = 8
    params = [p, h]
    with mg.no_grad():
        for q in params:
            q -= 0.1 * 8.0  # the torch idiom, leaves and op results alike
        p += 1.0
        p *= 2.0
        p /= 4.0
        p **= 2.0
    assert params[0] is p and params[1] is h
    assert p.data == ((1.0 - 0.8 + 1.0) * 2.0 / 4.0) ** 2.0 and h.data == 2.0 - 0.8
    assert p.is_leaf and not h.is_leaf
    p.grad = 0.0
    loss.backward()  # still at the forward pass's values: 8 * 1.0
    assert p.grad == 8.0


def test_in_place_operators_with_recording_on_build_a_node() -> None:
    p = Value(1.0)
    q = p
    q += 2.0
    assert q is not p and p.data == 1.0 and q.data == 3.0 and q.op == "+"
    q.backward()
    assert p.grad == 1.0


def test_in_place_operators_under_no_grad_name_the_op_in_errors() -> None:
    p = Value(1.0)
    with mg.no_grad(), pytest.raises(ZeroDivisionError, match=r"1.0 / 0.0"):
        p /= 0.0
    assert p.data == 1.0


# --- float() of a Value that carries a gradient warns --------------------------------------------


def test_math_functions_on_a_value_warn_that_the_gradient_is_cut() -> None:
    x = Value(0.5)
    with pytest.warns(UserWarning, match=r"microgrsucc\.sin\(x\)"):
        y = math.sin(x) + x
    y.backward()
    assert x.grad == 1.0  # what the warning is about: cos(0.5) + 1 was meant
    z = mg.sin(x) + x
    x.grad = 0.0
    z.backward()
    assert math.isclose(x.grad, math.cos(0.5) + 1.0, rel_tol=1e-15)


def test_float_of_a_no_grad_result_does_not_warn() -> None:
    import warnings

    x = Value(0.5)
    with mg.no_grad():
        y = x * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(y) == 1.0 and y.item() == 1.0 and f"{x:.2f}" == "0.50"


# --- create_graph: every gradient is a Value -----------------------------------------------------


def test_create_graph_gives_value_gradients_even_through_linear_ops() -> None:
    x = Value(2.0)
    (x + 1).backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 1.0
    assert mg.gradients(x.grad, x) == 0.0  # a constant: its own derivative is 0
    first = mg.gradients(x + 1, x, create_graph=True)
    assert isinstance(first, Value) and mg.gradients(first, x) == 0.0
    unused = mg.gradients(x * 2, [x, Value(1.0)], create_graph=True)
    assert all(isinstance(g, Value) for g in unused) and [g.data for g in unused] == [2.0, 0.0]
    leaf = Value(3.0)
    leaf.backward(create_graph=True)
    assert isinstance(leaf.grad, Value) and leaf.grad.data == 1.0


def test_anomaly_in_a_gradient_graph_names_the_users_op() -> None:
    for create_graph in (False, True):
        with mg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"gradient of sqrt\(0.0\)"):
            Value(0.0).sqrt().backward(create_graph=create_graph)
        with mg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"gradient of sqrt\(0.0\)"):
            mg.gradients(Value(0.0).sqrt(), Value(1.0), create_graph=create_graph)


def test_backward_after_a_leaf_changed_uses_the_forward_pass_values() -> None:
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


def test_a_gradient_graph_after_a_leaf_changed_is_refused_naming_it() -> None:
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


def test_format_spec_applies_to_the_data() -> None:
    loss = Value(0.123456789, label="loss") * 1.0
    assert f"{loss:.4f}" == "0.1235" and f"{loss:>10.2e}" == "  1.23e-01"
    assert f"{loss}" == repr(loss) == format(loss, "")  # no spec: the repr, as for any object
    with pytest.raises(ValueError):
        f"{loss:q}"  # a spec floats do not take fails as it would on the float


def test_comparisons_give_plain_bools_and_are_not_recorded() -> None:
    a, b = Value(1.0), Value(2.0)
    reflected = 2 > a  # noqa: SIM300  # the number on the left
    results = [
        a < b,
        a <= b,
        a > b,
        a >= b,
        a < 2,
        reflected,
        a <= 1.0,
        a >= Fraction(1, 2),
        a < np.float64(3.0),
    ]
    assert results == [True, True, False, False, True, True, True, True, True]
    assert all(type(r) is bool for r in results)
    loss = a * a
    if loss < 0.01:  # the training-loop idiom
        pytest.fail("1.0 is not below 0.01")
    assert loss.inputs == (a, a)  # comparing added no node
    with pytest.raises(TypeError):
        a < "1"  # noqa: B015  # an unordered type fails as Python says
    with pytest.raises(TypeError):
        a < True  # noqa: B015  # bools are not numbers here, as everywhere in the engine


def test_max_min_and_sorted_return_the_values_themselves() -> None:
    values = [Value(3.0), Value(-1.0), Value(7.5), Value(0.0)]
    assert max(values) is values[2] and min(values) is values[1]
    assert [v.data for v in sorted(values)] == [-1.0, 0.0, 3.0, 7.5]
    best = max(values)
    best.backward()  # still a node of the graph: max picked it, it did not copy it
    assert values[2].grad == 1.0


def test_equality_and_hash_are_by_identity_so_values_are_dict_keys() -> None:
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b and not (a == b)  # noqa: SIM201  # same number, different nodes
    assert a != 1.0  # never equal to a number: == is not a comparison of data
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len({a, b, a}) == 2
    grads = mg.gradients(a * b, [a, b])
    assert dict(zip([a, b], grads, strict=True)) == {a: 1.0, b: 1.0}


def test_gradients_and_zero_grad_take_a_single_value() -> None:
    x, y = Value(3.0), Value(-2.0)
    out = x * x * y
    assert mg.gradients(out, x) == -12.0  # a single Value in, a single gradient out
    assert mg.gradients(out, [x]) == [-12.0] and mg.gradients(out, (x, y)) == [-12.0, 9.0]
    out.backward()
    mg.zero_grad(x)
    assert x.grad is None and y.grad == 9.0
    mg.zero_grad([y], set_to_none=False)
    assert y.grad == 0.0
    with pytest.raises(TypeError, match="gradients: input 0 must be a Value"):
        mg.gradients(out, [1.0])
    with pytest.raises(TypeError, match="zero_grad: entry 1 must be a Value, got float"):
        mg.zero_grad([x, 1.0])  # not AttributeError: 'float' object has no attribute 'grad'
    with pytest.raises(TypeError, match="zero_grad expects a Value or an iterable of Values, got int"):
        mg.zero_grad(3)  # type: ignore[arg-type]


def test_backward_accepts_retain_graph_as_pytorch_code_passes_it() -> None:
    x = Value(0.5)
    y = x.exp() * x
    y.backward(retain_graph=True)
    y.backward(retain_graph=False)  # graphs are always kept: a second pass works either way
    assert math.isclose(x.grad, 2 * (1 + 0.5) * math.exp(0.5))
    y2 = x * x
    x.grad = 0.0
    y2.backward(retain_graph=True, create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 1.0
