"""backward() against a reference backward that is too simple to be wrong.

The reference is the chain rule as a definition, recursive and memoised, with none of
backward()'s machinery (no consumer counts, no Kahn order, no per-arity fast paths, no
reuse of .grad): d(root)/d(node) is the sum, over each edge from the node into a consumer,
of d(root)/d(consumer) times that edge's local partial, read through the public
``Value.local_grads()``. Compared over random graphs of every primitive and a three-input
custom op (the n-ary path), first order and second order.

The long variant (thousands of graphs) is marked ``slow``: ``pytest -m slow`` runs it, as
``.ci/run`` does; a plain ``pytest`` leaves it out.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, hessian, ops
from microgrsucc.testing.strategies import Graph, graphs, reals

fma = mg.custom_op("fma", lambda x, y, z: x * y + z, lambda F, x, y, z, out: (y, x, 1.0))
random_graphs = graphs(
    primitives=[*ops.PRIMITIVES.values(), fma],
    domains={"fma": st.tuples(reals(-3, 3), reals(-3, 3), reals(-3, 3))},
)


def reference_gradients(root: Value) -> dict[Value, float]:
    """d(root)/d(node) for every node below root, by the definition of the chain rule."""
    return {node: d for node, (d, _) in _reference(root).items()}


def _reference(root: Value) -> dict[Value, tuple[float, float]]:
    """Each node's d(root)/d(node), and the same sum taken over the absolute values of the
    products along every path (how large the terms are that rounding may cancel)."""
    consumers: dict[Value, list[tuple[Value, int]]] = {}

    def record_edges(node: Value, seen: set[Value]) -> None:
        if node in seen:
            return
        seen.add(node)
        for i, p in enumerate(node.inputs):
            consumers.setdefault(p, []).append((node, i))
            record_edges(p, seen)

    record_edges(root, set())
    memo: dict[Value, tuple[float, float]] = {root: (1.0, 1.0)}

    def d_root(node: Value) -> tuple[float, float]:
        if node not in memo:
            d = size = 0.0
            for c, i in consumers[node]:
                (dc, sc), partial = d_root(c), c.local_grads()[i]
                d += dc * partial
                size += sc * abs(partial)
            memo[node] = (d, size)
        return memo[node]

    return {node: d_root(node) for node in [root, *consumers]}


def agree(engine: float, reference: tuple[float, float]) -> bool:
    """The same products, summed in another order: equal up to the rounding of terms that large."""
    d, size = reference
    return engine == d or abs(engine - d) <= 1e-12 * size + 1e-300 or math.isclose(engine, d, rel_tol=1e-9)


def check_first_order(f: Graph) -> None:
    leaves = [Value(x) for x in f.inputs]
    root = f(*leaves)
    expected = _reference(root)
    root.backward()
    for node, d in expected.items():
        assert agree(node.grad, d), (node, d, f)  # every node, interior ones included
    from_gradients = mg.gradients(root, leaves)
    assert all(agree(g, expected.get(x, (0.0, 0.0))) for x, g in zip(leaves, from_gradients, strict=True))


def check_second_order(f: Graph) -> None:
    leaves = [Value(x) for x in f.inputs]
    root = f(*leaves)
    root.backward(create_graph=True)
    firsts = [x.grad for x in leaves]
    h = hessian(f)(*f.inputs)
    for i, first in enumerate(firsts):
        if not isinstance(first, Value):  # the root does not depend on this input
            assert first is None and all(row == 0.0 for row in h[i])
            continue
        expected = _reference(first)  # the naive method on the gradient graph
        for j, x in enumerate(leaves):
            assert agree(h[i][j], expected.get(x, (0.0, 0.0))), (i, j, h, f)
        for x in leaves:
            x.grad = 0.0
        first.backward()
        assert all(agree(x.grad, expected.get(x, (0.0, 0.0))) for x in leaves), f


def test_the_reference_is_the_chain_rule() -> None:
    a, b = Value(2.0), Value(3.0)
    c = a * b
    out = c * a + c.sin()
    d = reference_gradients(out)
    assert d[c] == a.data + math.cos(6.0)
    assert d[a] == d[c] * 3.0 + c.data  # two paths: through c, and directly
    assert reference_gradients(a * a)[a] == 4.0  # one input twice: two edges


@given(random_graphs)
def test_backward_matches_the_reference(f: Graph) -> None:
    check_first_order(f)


@given(random_graphs)
def test_second_order_matches_the_reference_on_the_gradient_graph(f: Graph) -> None:
    check_second_order(f)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"))
@given(random_graphs)
def test_backward_matches_the_reference_over_thousands_of_graphs(f: Graph) -> None:
    check_first_order(f)
    check_second_order(f)
