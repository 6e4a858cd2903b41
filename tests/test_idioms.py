"""The idioms micrograd and PyTorch users type first (issue 12): each one works as they expect."""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import numpy as np
import pytest

import microgrsucc as mg
from microgrsucc import Value


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


def test_no_grad_as_a_bare_and_a_called_decorator() -> None:
    @mg.no_grad
    def bare(v: Value) -> Value:
        return v * v

    @mg.no_grad()
    def called(v: Value) -> Value:
        return v * v

    x = Value(3.0)
    assert bare(x).is_leaf and called(x).is_leaf and bare(x).data == 9.0
    assert bare.__name__ == "bare" and called.__name__ == "called"  # functools.wraps
    assert not (x * x).is_leaf and mg.is_grad_enabled()  # the mode ends with the call


def test_enable_grad_inside_no_grad() -> None:
    x = Value(2.0)
    with mg.no_grad():
        with mg.enable_grad():
            assert mg.is_grad_enabled()
            y = x * x
        z = x * x
        assert not mg.is_grad_enabled()

        @mg.enable_grad()
        def recorded(v: Value) -> Value:
            return v * v

        w = recorded(x)
    assert not y.is_leaf and z.is_leaf and not w.is_leaf


def test_set_grad_enabled_as_a_call_and_as_a_context_manager() -> None:
    x = Value(2.0)
    try:
        mg.set_grad_enabled(False)  # as torch: the call itself switches
        assert not mg.is_grad_enabled() and (x * x).is_leaf
        mg.set_grad_enabled(True)
        assert mg.is_grad_enabled() and not (x * x).is_leaf
        with mg.set_grad_enabled(False):
            assert (x * x).is_leaf
            with mg.set_grad_enabled(True):
                assert not (x * x).is_leaf
            assert (x * x).is_leaf
        assert mg.is_grad_enabled()  # the with block restored what it found
        with mg.no_grad(), mg.set_grad_enabled(True):
            assert not (x * x).is_leaf
        # As a decorator (as in torch) the call's switch is undone; the mode holds per call.
        decorated = mg.set_grad_enabled(False)(lambda: (x * x).is_leaf)
        assert mg.is_grad_enabled() and decorated() and mg.is_grad_enabled()
    finally:
        mg.set_grad_enabled(True)
    assert mg.is_grad_enabled()


def test_set_grad_enabled_is_per_thread() -> None:
    seen: list[bool] = []
    with mg.set_grad_enabled(False):
        t = threading.Thread(target=lambda: seen.append(mg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_gradients_and_zero_grad_take_a_single_value() -> None:
    x, y = Value(3.0), Value(-2.0)
    out = x * x * y
    assert mg.gradients(out, x) == -12.0  # a single Value in, a single gradient out
    assert mg.gradients(out, [x]) == [-12.0] and mg.gradients(out, (x, y)) == [-12.0, 9.0]
    out.backward()
    mg.zero_grad(x)
    assert x.grad == 0.0 and y.grad == 9.0
    mg.zero_grad([y])
    assert y.grad == 0.0
    with pytest.raises(TypeError, match="gradients: input 0 must be a Value"):
        mg.gradients(out, [1.0])


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
