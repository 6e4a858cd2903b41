"""Graphs for ``pickle`` and ``copy.deepcopy``: shared nodes stay shared, and no recursion.

Every node pickles as an empty shell plus its own fields (op, inputs, values, label, grad,
a Dual's tangent), so pickle's memo keeps a node shared by two roots, or by a root and a
node saved beside it, one object: one pickle is one memo, as for any Python objects.

Pickle saves a node's inputs while it saves the node, so a chain of n ops would recurse n
deep. To stay flat, the first node reached of a graph (a root) lists every node below it
that this pickle has not reached yet, inputs first: saving that list saves each node after
its inputs, so none recurses. Gradients that are graphs (``create_graph=True``) may point
back at nodes not saved yet, so they are saved last, in the root's own state, once every
node exists; a graph met there lists only what is new, so the pickle grows with the number
of nodes, not with the square of the depth.

In the list, each node comes after a marker naming it: pickle saves the marker, then the
node (unless it saved the node already), so a node knows it is being saved from a list, in
this thread, right now. Which nodes this pickle has saved is kept per thread too; it only
decides which nodes a root lists, never how a node is saved.

A root begins only while every open root of this thread is saving its gradients; at any
other time a pickle of this thread died part way, and what it left is forgotten.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["abandon", "new_node", "reduce", "set_state"]

# backward()'s scratch space, not part of a node.
_SCRATCH = "_pending"


class _Listing(threading.local):
    """What the pickle running in this thread has done so far."""

    next: Any  # the node a root's list saves next
    saved: dict[int, Any]  # the nodes this pickle has saved: not listed again
    open: int  # roots whose pickling has not ended
    collecting: int  # of those, the roots saving their gradient graphs

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.next, self.saved, self.open, self.collecting = None, {}, 0, 0


_listing = _Listing()


def abandon() -> None:
    """Forget the pickle under way in this thread: it has failed."""
    _listing.reset()


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    """The fields a node of ``cls`` pickles, in one order: its slots, backward's scratch aside."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(
            n for c in cls.__mro__ for n in getattr(c, "__slots__", ()) if n != _SCRATCH
        )
    return names


def _fields(node: Any) -> list[Any]:
    """The node's fields in ``_names`` order; a gradient graph left out (None): it comes last."""
    names = _names(type(node))
    fields = [getattr(node, n, None) for n in names]
    if node.grad.__class__ not in (float, type(None)):
        fields[names.index("grad")] = None
    return fields


def _graph_grads(nodes: Any) -> list[tuple[Any, Any]]:
    return [(x, x.grad) for x in nodes if x.grad.__class__ not in (float, type(None))]


def _inputs(node: Any) -> tuple[Any, ...]:
    return node.inputs if node._op is not None else ()


def reduce(node: Any) -> tuple[Any, ...]:
    """``node.__reduce__()``, for a Value or a subclass."""
    cls = getattr(type(node), "pickled_as", type(node))  # a parameter's class while compile traces
    if _listing.next is node:  # saved from its root's list: its inputs are saved already
        _listing.next = None
        _listing.saved[id(node)] = node
        return (new_node, (cls,), tuple(_fields(node)))
    if _listing.open > _listing.collecting:
        _listing.reset()
    _listing.next = None
    below = _unsaved_below(node)
    _listing.open += 1
    _listing.saved[id(node)] = node
    listed = [y for x in below for y in (_Next(x), x)]
    state = {
        "fields": tuple(_fields(node)),
        "begin": _Collecting(),
        "grads": _graph_grads([*below, node]),
        "end": _End(),
    }
    return (new_node, (cls, listed), state)


def _unsaved_below(root: Any) -> list[Any]:
    """The nodes below ``root`` (not ``root``) this pickle has not saved, each after its inputs."""
    saved = _listing.saved
    order: list[Any] = []
    seen = {id(root)}
    stack: list[tuple[Any, bool]] = [(x, False) for x in reversed(_inputs(root))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen or saved.get(id(node)) is node:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((x, False) for x in reversed(_inputs(node)))
    return order


class _Next:
    """Saved just before a node of a root's list: that node is saved from the list."""

    __slots__ = ("node",)

    def __init__(self, node: Any) -> None:
        self.node = node

    def __reduce__(self) -> tuple[Any, ...]:
        _listing.next = self.node
        return (type(None), ())


class _Collecting:
    """Saved in a root's state before its gradients: roots met from here on are nested."""

    def __reduce__(self) -> tuple[Any, ...]:
        _listing.collecting += 1
        return (type(None), ())


class _End:
    """Saved last in a root's state: the root's pickling is over."""

    def __reduce__(self) -> tuple[Any, ...]:
        _listing.open -= 1
        _listing.collecting -= 1
        if not _listing.open:
            _listing.reset()
        return (type(None), ())


def new_node(cls: type, below: list[Any] | None = None) -> Any:
    """An empty node of ``cls``, its fields to come from ``set_state``; ``below`` is only
    there to be saved (and so loaded) first."""
    out: Any = object.__new__(cls)
    out._pending = 0
    return out


def set_state(node: Any, saved: Any) -> None:
    """A node's fields; for a root, then the gradient graphs of the nodes it listed."""
    fields, grads = (saved["fields"], saved["grads"]) if isinstance(saved, dict) else (saved, ())
    for name, x in zip(_names(type(node)), fields, strict=True):
        setattr(node, name, x)
    for x, g in grads:
        x.grad = g
