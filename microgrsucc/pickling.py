"""Graphs for ``pickle``, as flat lists: no recursion, whatever the graph's depth.

An interior node pickles as the list of the interior nodes below it, inputs first, each
as (primitive, inputs, data, label, the inputs' recorded values), where an input is an
earlier entry's index or a leaf. Leaves go through pickle's own memo, so a parameter shared
by two graphs stays one object. Gradients come last, as state, once every node exists: a
gradient from ``create_graph=True`` is a graph that may lead back to these nodes.
"""

from __future__ import annotations

from typing import Any

from microgrsucc import backward as reverse

__all__ = ["new_leaf", "rebuild", "reduce", "set_state"]

# What a leaf does not carry over: it has no op, and _pending is backward()'s scratch space.
_GRAPH_FIELDS = ("_op", "_a", "_b", "_xa", "_xb")


def reduce(node: Any) -> tuple[Any, ...]:
    """``node.__reduce__()``, for a Value or a subclass."""
    cls = type(node)
    if node._op is None:
        names = [n for c in cls.__mro__ for n in getattr(c, "__slots__", ())]
        fields = {n: getattr(node, n) for n in names if n not in _GRAPH_FIELDS and hasattr(node, n)}
        return (new_leaf, (cls,), fields)
    nodes = reverse.postorder(node)
    index = {x: i for i, x in enumerate(nodes)}
    spec = [(x._op, [index.get(p, p) for p in x.inputs], x.data, x.label, reverse.recorded(x)) for x in nodes]
    return (rebuild, (cls, spec), {"grads": [x.grad for x in nodes]})


def new_leaf(cls: type) -> Any:
    """An empty leaf of ``cls``, its fields to come from ``set_state``."""
    out: Any = object.__new__(cls)
    for name in _GRAPH_FIELDS:
        setattr(out, name, None)
    out._pending = 0
    out.grad = None
    out.label = None
    return out


def rebuild(cls: type, spec: list[tuple[Any, list[Any], float, Any, tuple[float, ...]]]) -> Any:
    """The nodes again from ``reduce``'s list; the root, which comes last."""
    nodes: list[Any] = []
    for op, refs, data, label, values in spec:
        inputs = [nodes[r] if isinstance(r, int) else r for r in refs]
        out = new_leaf(cls)
        out.data, out.label, out._op = data, label, op
        if op.arity == 1:
            out._a, out._xa = inputs[0], values[0]
        elif op.arity == 2:
            out._a, out._b = inputs
            out._xa, out._xb = values
        else:
            out._a, out._xa = tuple(inputs), values
        nodes.append(out)
    return nodes[-1]


def set_state(node: Any, saved: dict[str, Any]) -> None:
    """A leaf's fields, or the gradients of a rebuilt graph."""
    if "grads" in saved:
        for x, g in zip(reverse.postorder(node), saved["grads"], strict=True):
            x.grad = g
    else:
        for name, x in saved.items():
            setattr(node, name, x)
