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
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["new_node", "reduce", "set_state"]

# backward()'s scratch space, not part of a node.
_SCRATCH = "_pending"


class _Listing(threading.local):
    """What the pickle running in this thread has done so far."""

    def __init__(self) -> None:
        self.next: Any = None  # the node a root's list saves next
        self.saved: set[int] = set()  # ids of nodes this pickle has saved: not listed again
        self.open = 0  # roots whose pickling has not ended


_listing = _Listing()


def _fields(node: Any) -> dict[str, Any]:
    names = [n for c in type(node).__mro__ for n in getattr(c, "__slots__", ())]
    return {n: getattr(node, n) for n in names if n != _SCRATCH and hasattr(node, n)}


def _inputs(node: Any) -> tuple[Any, ...]:
    return node.inputs if node._op is not None else ()


def reduce(node: Any) -> tuple[Any, ...]:
    """``node.__reduce__()``, for a Value or a subclass."""
    cls = type(node)
    key = id(node)
    if _listing.next is node:  # saved from its root's list: its inputs are saved already
        _listing.next = None
        _listing.saved.add(key)
        fields = _fields(node)
        if fields.get("grad").__class__ not in (float, type(None)):
            del fields["grad"]  # a graph: the root saves it last
        return (new_node, (cls,), fields)
    if not _listing.open:
        _listing.saved.clear()
    _listing.next = None
    below = _unsaved_below(node)
    _listing.open += 1
    _listing.saved.add(key)
    listed = [y for x in below for y in (_Next(x), x)]
    grads = [(x, x.grad) for x in below if x.grad.__class__ not in (float, type(None))]
    return (new_node, (cls, listed), (_fields(node), grads, _End()))


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
        if id(node) in seen or id(node) in saved:
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


class _End:
    """Saved last in a root's state: the root's pickling is over."""

    def __reduce__(self) -> tuple[Any, ...]:
        _listing.open -= 1
        if not _listing.open:
            _listing.saved.clear()
        return (type(None), ())


def new_node(cls: type, below: list[Any] | None = None) -> Any:
    """An empty node of ``cls``, its fields to come from ``set_state``; ``below`` is only
    there to be saved (and so loaded) first."""
    out: Any = object.__new__(cls)
    out._pending = 0
    return out


def set_state(node: Any, saved: Any) -> None:
    """A node's fields; for a root, then the gradient graphs of the nodes it listed."""
    if isinstance(saved, dict):
        fields, grads = saved, []
    else:
        fields, grads, _ = saved
    for name, x in fields.items():
        setattr(node, name, x)
    for x, g in grads:
        x.grad = g
