"""The propagation loops of ``backward.py`` against each other.

``backward()`` of float gradients runs a loop written out per arity for speed; a gradient
graph (``create_graph=True``) and the anomaly check run one loop written once for every
arity. They must pass gradients in the same order with the same sums, so over random graphs
of every primitive and a three-input custom op (the n-ary path) all three give the same bits,
leaves and interior nodes alike, also when a second ``backward()`` accumulates into the leaves.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, ops
from microgrsucc.backward import backward_order
from microgrsucc.testing.strategies import Graph, graphs, reals

fma = mg.custom_op("fma", lambda x, y, z: x * y + z, lambda F, x, y, z, out: (y, x, 1.0))
random_graphs = graphs(
    primitives=[*ops.PRIMITIVES.values(), fma],
    domains={"fma": st.tuples(reals(-3, 3), reals(-3, 3), reals(-3, 3))},
)


def _bits(f: Graph, backward: Callable[[Value], None]) -> list[str]:
    """Every node's gradient after two backward() calls, as exact hex (NaN and -0.0 kept)."""
    leaves = [Value(x) for x in f.inputs]
    root = f(*leaves)
    backward(root)
    backward(root)
    grads = [node.grad for node in [*leaves, *backward_order(root)]]
    return [float.hex(g.data if isinstance(g, Value) else math.nan if g is None else g) for g in grads]


def _plain(root: Value) -> None:
    root.backward()


def _checked(root: Value) -> None:
    with mg.detect_anomaly():
        root.backward()


def _graph_of_gradients(root: Value) -> None:
    root.backward(create_graph=True)


def check_same_bits(f: Graph) -> None:
    plain = _bits(f, _plain)
    assume(all(math.isfinite(float.fromhex(g)) for g in plain))  # else the checked pass raises
    assert _bits(f, _checked) == plain, f
    assert _bits(f, _graph_of_gradients) == plain, f


@given(random_graphs)
def test_the_float_loop_and_the_general_loop_give_the_same_bits(f: Graph) -> None:
    check_same_bits(f)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"))
@given(random_graphs)
def test_the_loops_give_the_same_bits_over_thousands_of_graphs(f: Graph) -> None:
    check_same_bits(f)
