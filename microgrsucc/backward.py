"""Reverse mode over a recorded graph: the consumer count, then one propagation loop.

This floor knows the node's fields (``_op``, ``_a``, ``_b``, the recorded input values
``_xa``/``_xb`` and output value ``_out``, ``grad``, ``_pending``) but not the ``Value``
class: whoever calls it hands in the namespace ``F`` that derivatives are evaluated with, so
recording a gradient graph (``create_graph=True``) needs no import of ``Value`` here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from microgrsucc import ops
from microgrsucc.core import call
from microgrsucc.ops import Primitive

__all__ = [
    "backward_into",
    "backward_order",
    "below",
    "check_unchanged",
    "count_consumers",
    "local_grads",
    "postorder",
    "propagate",
    "recorded",
]

# A node is any object with the fields above (a Value, a Dual).
Node = Any


def count_consumers(root: Node) -> None:
    """Set ``_pending`` of every interior node below ``root`` (an interior node itself) to its
    number of consumer edges.

    A node is ready to pass its gradient on once all of them have arrived (Kahn's
    algorithm), which orders the graph without recursion. Interior gradients are reset
    here, since they hold the latest pass only: to None, so that the first gradient to
    arrive is stored rather than added to 0.0. Leaves need no count: they only receive.
    """
    stack: list[Node] = []
    pop, push = stack.pop, stack.append
    node = root
    while True:  # not `while stack`: see _propagate_floats
        a = node._a
        b = node._b  # set on nodes of two inputs only, most of a graph: tested first
        if b is not None:
            if b._op is not None:
                n = b._pending
                if not n:
                    b.grad = None
                    push(b)
                b._pending = n + 1
        elif node._op.arity > 2:  # only interior nodes are pushed
            for p in a:
                if p._op is not None:
                    n = p._pending
                    if not n:
                        p.grad = None
                        push(p)
                    p._pending = n + 1
            if not stack:
                return
            node = pop()
            continue
        if a._op is not None:
            n = a._pending
            a._pending = n + 1
            if not n:
                # The first input, pushed last, would be popped next: it is visited now,
                # without the push and the pop (a sum's running total, a relu's input).
                a.grad = None
                node = a
                continue
        if not stack:
            return
        node = pop()


def propagate(root: Node, F: Any, check: bool) -> None:
    """Pass gradients from ``root`` down, each node once all its consumers have reported.

    ``F`` is the namespace the derivatives are evaluated with: ``ops.FLOAT`` for plain
    gradients, or the Value ops (handed in by ``value.py``) to record the gradient graph.
    ``check``: raise FloatingPointError for a gradient that is NaN or infinite.
    """
    if F is ops.FLOAT and not check and root.grad.__class__ is float:
        _propagate_floats(root)
    else:
        _propagate_any(root, F, check)


def _propagate_floats(root: Node) -> None:
    """``propagate`` of float gradients without checks: every ``backward()`` of a training step.

    The hot loop of the engine, written out per arity with nothing tested that this case
    leaves fixed (a gradient graph, the anomaly check); ``_propagate_any`` does the rest in
    the same order with the same sums, so either gives the same bits.
    """
    ready = [root]
    pop, push = ready.pop, ready.append
    # CPython 3.11 specializes a function's bytecode (attribute reads of slots, ...) after
    # 8 calls or 8 unconditional backward jumps; `while ready` jumps back conditionally, so
    # a loop in a function called once per backward() would run unspecialized, about twice
    # as slow, until the 8th backward() of the process. `while True` counts each pass.
    node = None
    while True:
        if node is None:
            if not ready:
                return
            node = pop()
        op: Primitive = node._op
        g = node.grad
        a = node._a
        b = node._b  # set on nodes of two inputs only, most of a graph: tested first
        if b is not None:
            if op.unit:  # x + y: g * 1.0 is g for every float, so g is passed on as it is
                ga = a.grad
                a.grad = g if ga is None else ga + g
                gb = b.grad  # read after a's update: b may be a
                b.grad = g if gb is None else gb + g
            else:
                if op.swapped:  # x * y: its partials are y and x, as recorded
                    da = node._xb
                    db = node._xa
                elif op.constant:
                    da, db = op.derivative
                else:
                    # Read into a local: CPython 3.11 cannot specialize op.derivative(...), a
                    # call of a function held in a slot, and looks it up the slow way each time.
                    d = op.derivative
                    da, db = d(ops.FLOAT, node._xa, node._xb, node._out)
                ga = a.grad
                a.grad = g * da if ga is None else ga + g * da
                gb = b.grad
                b.grad = g * db if gb is None else gb + g * db
            # x * x counts two edges on x, so x waits for both. The input made ready last is
            # the one the stack would pop next: it is taken as the next node without the push
            # and the pop (most nodes have one consumer; 4% of backward()), the order unchanged.
            node = None
            if a._op is not None:
                a._pending = n = a._pending - 1
                if not n:
                    node = a
            if b._op is not None:
                b._pending = n = b._pending - 1
                if not n:
                    if node is not None:
                        push(node)
                    node = b
        elif op.arity == 1:
            d = op.derivative
            if not op.constant:
                d = d(ops.FLOAT, node._xa, node._out)
            ga = a.grad
            a.grad = g * d if ga is None else ga + g * d
            node = None
            if a._op is not None:
                a._pending = n = a._pending - 1
                if not n:
                    node = a
        else:
            partials = op.derivative if op.constant else op.derivative(ops.FLOAT, *node._xa, node._out)
            for p, d in zip(a, partials, strict=True):
                gp = p.grad
                p.grad = g * d if gp is None else gp + g * d
            node = None
            for p in a:
                if p._op is not None:
                    p._pending = n = p._pending - 1
                    if not n:
                        push(p)


def _propagate_any(root: Node, F: Any, check: bool) -> None:
    """``propagate`` for the other cases: a gradient graph (``create_graph``), the anomaly
    check, or a gradient that is not a float. Not a hot path, so written once for every arity."""
    create_graph = F is not ops.FLOAT
    # As in _propagate_floats, a float gradient passes through a two-input op whose partials
    # are 1 (+) unmultiplied; there, ops of one or three inputs multiply by 1.0, so here too.
    plain = not create_graph and root.grad.__class__ is float
    ready = [root]
    while ready:
        node = ready.pop()
        op: Primitive = node._op
        inputs = node.inputs
        partials = _partials(node, F, create_graph)
        unit = plain and op.unit and op.arity == 2
        g = node.grad
        for p, dp in zip(inputs, partials, strict=True):
            gp = p.grad  # read after the update of an earlier operand: x * x
            step = g if unit else g * dp
            p.grad = step if gp is None else gp + step
        if check:
            _check_gradients(node, inputs)
        for p in inputs:
            if p._op is not None:
                p._pending = n = p._pending - 1
                if not n:
                    ready.append(p)


def check_unchanged(node: Node, inputs: Sequence[Node], values: Sequence[float]) -> None:
    """A gradient graph is built from the inputs and the output themselves, so they must hold
    the values the op saw; a plain backward() needs no check, since it reads the recorded values."""
    then = node._out
    if node.data is not then and node.data != then and not (node.data != node.data and then != then):
        raise RuntimeError(
            f"backward(create_graph=True): the result of {call(node._op, values)} was changed to "
            f"{node.data!r} after the forward pass; recompute the graph"
        )
    for i, (x, then) in enumerate(zip(inputs, values, strict=True)):
        if x.data is not then and x.data != then and not (x.data != x.data and then != then):
            name = "" if x.label is None else f" ({x.label})"
            raise RuntimeError(
                f"backward(create_graph=True): operand {i}{name} of {call(node._op, values)} "
                f"was changed to {x.data!r} after the forward pass; recompute the graph from it"
            )


def _check_gradients(node: Node, inputs: Iterable[Node]) -> None:
    for i, x in enumerate(inputs):
        _check_gradient(node, i, x.grad)


def _check_gradient(node: Node, i: int, g: Any) -> None:
    g = g if g.__class__ is float else g.data  # a Value from create_graph=True
    if not math.isfinite(g):
        raise FloatingPointError(f"the gradient of {call(node._op, recorded(node))} for operand {i} is {g}")


def local_grads(node: Node) -> tuple[float, ...]:
    """d(node)/d(input) for each input, at the recorded values (empty for a leaf)."""
    if node._op is None:
        return ()
    return tuple(float(p) for p in _partials(node, ops.FLOAT, False))


def _partials(node: Node, F: Any, create_graph: bool) -> Sequence[Any]:
    """d(node)/d(input) for each input of an interior node: at the recorded values, or, for
    ``create_graph``, as Values built from the inputs and the output themselves."""
    op: Primitive = node._op
    if op.constant:
        d = op.derivative
    elif create_graph:
        inputs = node.inputs
        check_unchanged(node, inputs, recorded(node))
        d = op.derivative(F, *inputs, node)
    else:
        d = op.derivative(F, *recorded(node), node._out)
    return (d,) if op.arity == 1 else d


def recorded(node: Node) -> tuple[float, ...]:
    """The values the node's op saw, in operand order."""
    arity = node._op.arity
    return (node._xa,) if arity == 1 else (node._xa, node._xb) if arity == 2 else node._xa


def backward_into(root: Node, gradient: Any, F: Any, check: bool) -> dict[Node, Any]:
    """The same pass as ``propagate``, into a dict instead of the nodes' fields.

    For ``gradients()`` and the transforms, which must not touch any ``.grad`` (another
    thread may be accumulating there). Written once, without the per-arity unrolling:
    transforms are not the hot path.
    """
    pending = _consumer_counts(root)
    create_graph = F is not ops.FLOAT
    grads: dict[Node, Any] = {root: gradient}
    ready = [root] if root._op is not None else []
    while ready:
        node = ready.pop()
        inputs = node.inputs
        partials = _partials(node, F, create_graph)
        g = grads[node]
        for i, (p, dp) in enumerate(zip(inputs, partials, strict=True)):
            gp = grads.get(p)
            grads[p] = g * dp if gp is None else gp + g * dp
            if check:
                _check_gradient(node, i, grads[p])
        for p in inputs:
            if p._op is not None:
                pending[p] -= 1
                if not pending[p]:
                    ready.append(p)
    return grads


def _consumer_counts(root: Node) -> dict[Node, int]:
    """``count_consumers`` into a dict, leaving the nodes untouched."""
    pending: dict[Node, int] = {}
    stack = [root]
    while stack:
        for p in stack.pop().inputs:
            if p._op is not None:
                if p not in pending:
                    pending[p] = 0
                    stack.append(p)
                pending[p] += 1
    return pending


def backward_order(root: Node) -> list[Node]:
    """The interior nodes below ``root`` in the order ``backward()`` passes their gradients on.

    Each node comes after all of its consumers (a reverse topological order), exactly as
    the propagation loop pops them; for pictures that replay the backward pass step by step.
    """
    pending = _consumer_counts(root)
    order: list[Node] = []
    ready = [root] if root._op is not None else []
    while ready:
        node = ready.pop()
        order.append(node)
        for p in node.inputs:
            if p._op is not None:
                pending[p] -= 1
                if not pending[p]:
                    ready.append(p)
    return order


def below(root: Node) -> set[Node]:
    """Every node of the graph below ``root``, ``root`` included."""
    seen = {root}
    stack = [root]
    while stack:
        for p in stack.pop().inputs:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def postorder(root: Node) -> list[Node]:
    """The interior nodes below ``root``, each after its inputs, ``root`` last; iterative."""
    order: list[Node] = []
    done: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
            continue
        stack.append((node, True))
        for p in reversed(node.inputs):
            if p._op is not None and p not in done:
                stack.append((p, False))
    return order
