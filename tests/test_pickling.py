"""pickle and copy.deepcopy of Values and graphs: one pickle is one memo (shared nodes stay
shared), at any depth, in linear size, every field kept (gradient graphs, a Dual's tangents),
across processes. The reference for a copy is the original: the same structure, the same
values, and after ``backward()`` the same gradients.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import pickle
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value
from microgrsucc.backward import below
from microgrsucc.forward import Dual
from microgrsucc.testing.strategies import Graph, graphs


def _deep_chain(depth: int) -> tuple[Value, Value]:
    x = Value(0.5, label="x")
    y = x
    for _ in range(depth // 2):
        y = (y + x) * x  # two ops deep per round, and no constant leaves to pickle
    return y, x


def _leaves(root: Value) -> list[Value]:
    return sorted((n for n in below(root) if n.is_leaf and n.label), key=lambda n: str(n.label))


@pytest.mark.parametrize("depth", [20_000, pytest.param(100_000, marks=pytest.mark.slow)])
def test_a_graph_far_deeper_than_the_recursion_limit_pickles(depth: int) -> None:
    assert sys.getrecursionlimit() * 20 <= depth
    y, x = _deep_chain(depth)
    copy = pickle.loads(pickle.dumps(y))
    (x_copy,) = _leaves(copy)
    assert copy.data == y.data and x_copy is not x and x_copy.label == "x"
    y.backward()
    copy.backward()
    assert x_copy.grad == x.grad and math.isfinite(x.grad)


def test_shared_leaves_stay_shared_and_gradients_survive() -> None:
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


def test_graphs_go_through_multiprocessing() -> None:
    a, b = Value(0.3, label="a"), Value(0.7, label="b")
    root = (a * b).sin() + a.exp() / b
    expected = mg.gradients(root, [a, b])
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(2) as pool:
        results = pool.map(_gradient_of, [(root, [a, b])] * 2)
    assert results == [expected, expected]


ROUND_TRIPS: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "pickle protocol 0": lambda obj: pickle.loads(pickle.dumps(obj, protocol=0)),
    "deepcopy": copy.deepcopy,
}


def structure(roots: list[Value]) -> list[tuple[Any, ...]]:
    """Each node below the roots as (op, data, grad, indices of its inputs), in one order."""
    order: list[Value] = []
    index: dict[int, int] = {}
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if id(node) in index:
            continue
        index[id(node)] = len(order)
        order.append(node)
        stack.extend(reversed(node.inputs))

    def number(g: Any) -> Any:  # a gradient graph (create_graph=True) by its value
        return g.data if isinstance(g, Value) else g

    return [(n.op, n.data, number(n.grad), tuple(index[id(p)] for p in n.inputs)) for n in order]


@pytest.mark.parametrize("trip", sorted(ROUND_TRIPS))
def test_an_interior_node_saved_beside_its_root_stays_shared(trip: str) -> None:
    x = Value(2.0, label="x")
    h = x.exp()
    out = h * x + h
    for saved in ([h, out], [out, h]):
        copied = ROUND_TRIPS[trip](saved)
        h2, out2 = copied if saved[0] is h else copied[::-1]
        assert out2.inputs[1] is h2 and out2.inputs[0].inputs[0] is h2
        out2.backward()
        assert h2.grad == x.data + 1.0  # d(out)/dh, reaching the copy of h


@given(graphs(), st.data(), st.sampled_from(sorted(ROUND_TRIPS)))
def test_random_graphs_keep_identity_values_and_gradients(f: Graph, data: st.DataObject, trip: str) -> None:
    leaves = [Value(x) for x in f.inputs]
    out = f(*leaves)
    nodes = sorted(below(out), key=lambda n: n.data)
    picked = data.draw(st.lists(st.sampled_from(nodes), max_size=3))
    saved = [*picked, out, *leaves]
    copied = ROUND_TRIPS[trip](saved)
    assert structure(copied) == structure(saved)
    out.backward()
    copied[len(picked)].backward()
    assert structure(copied) == structure(saved)  # the same gradients on every node
    assert all(c.grad == n.grad for c, n in zip(copied, saved, strict=True))


def test_a_pickled_dual_keeps_every_tangent() -> None:
    x = Dual(1.0, tangent=1.0)
    inner = x * x
    y = inner.sin()
    y2 = pickle.loads(pickle.dumps(y))
    assert y2.inputs[0].tangent == inner.tangent == 2.0
    assert y2.tangent == y.tangent == math.cos(1.0) * 2.0
    assert copy.deepcopy(y).inputs[0].tangent == 2.0


def chain(n: int) -> Value:
    x = Value(0.5)
    y = x
    for _ in range(n):
        y = (y * 1.0001).tanh()
    y.backward(create_graph=True)
    return y


def test_gradient_graphs_pickle_at_any_depth_in_linear_size() -> None:
    sizes = {}
    for n in (500, 2000):
        y = chain(n)
        data = pickle.dumps(y)  # no RecursionError: saved gradient graphs are flat too
        sizes[n] = len(data)
        y2 = pickle.loads(data)
        assert structure([y2]) == structure([y])
        assert structure([y2.inputs[0].grad]) == structure([y.inputs[0].grad])
    assert sizes[2000] / sizes[500] < 4.4  # 4x the nodes: linear, not quadratic (16x)


def softplus_forward(x: float) -> float:
    return math.log1p(math.exp(x))


def softplus_derivative(F: Any, x: Any, out: Any) -> Any:
    return F.sigmoid(x)


def test_a_graph_with_a_custom_op_of_module_level_functions_pickles() -> None:
    softplus = mg.custom_op("softplus_for_pickling", softplus_forward, softplus_derivative)
    x = Value(0.5)
    y = softplus(x) * x
    y2 = pickle.loads(pickle.dumps(y))
    y2.backward()
    sigmoid = 1 / (1 + math.exp(-0.5))
    assert y2.data == y.data and math.isclose(y2.inputs[0].inputs[0].grad, sigmoid * 0.5 + y.data / 0.5)


def test_a_custom_op_of_a_lambda_says_why_it_cannot_pickle_and_leaves_pickle_working() -> None:
    local = mg.custom_op("local_square", lambda x: x * x, lambda F, x, out: 2.0 * x)
    x = Value(3.0)
    y = local(x) + 1.0
    with pytest.raises(pickle.PicklingError, match=r"local_square: .*not a module-level function"):
        pickle.dumps(y)
    assert copy.deepcopy(y).data == 10.0  # a copy in memory needs no names
    z = chain(300)  # a failed pickle leaves nothing behind that changes the next one
    z2 = pickle.loads(pickle.dumps(z))
    assert structure([z2]) == structure([z])
    deep = Value(1.0)
    for _ in range(20_000):  # deeper than the recursion limit: flat only if nothing was left
        deep = deep * 1.0
    with pytest.raises(pickle.PicklingError):
        pickle.dumps([x, deep, y])
    assert pickle.loads(pickle.dumps(deep)).data == 1.0


def test_a_parameter_pickled_while_compile_traces_it_comes_back_a_value() -> None:
    # The trace gives its parameters a subclass that records their reads; a pickle taken
    # meanwhile (here from inside the loss) names the class they stand for.
    w = Value(1.5, label="w")
    copies = []

    def loss(x: Any) -> Value:
        copies.append(pickle.loads(pickle.dumps(w)))
        return w * x

    mg.compile(loss, [w]).backward([(2.0,)])
    (copied,) = copies
    assert type(copied) is Value and (copied.data, copied.label) == (1.5, "w")
