"""Values and whole graphs pickle: deep graphs, shared leaves, gradient graphs, other processes."""

from __future__ import annotations

import math
import multiprocessing
import pickle
import sys

import pytest

import microgrsucc as mg
from microgrsucc import Value
from microgrsucc.backward import below


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
