# ruff: noqa: RUF001, RUF002  -- the pictures print the multiplication signs U+00D7 and U+00B7
"""What the pictures say about a graph: numbers, names, operand roles and the chain rule.

``drawing`` (the static pictures) and ``page`` (the interactive HTML page) both take their
words from here, so a node is named, and a number is written, the same way in both.

>>> from microgrsucc import Value
>>> w, x = Value(0.6, label="w"), Value(0.5, label="x")
>>> y = (w * x).sigmoid()
>>> y.label = "y"
>>> y.backward()
>>> rule = chain_rule(y, w)
>>> print("\\n".join(rule.lines(width=200)))
∂y/∂w = ∂y/∂(w*x) · ∂(w*x)/∂w
      = 0.2445 × 0.5000
      = 0.1222
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from microgrsucc.backward import backward_order
from microgrsucc.ops import Parametric
from microgrsucc.value import Value, as_value

__all__ = [
    "ChainRule",
    "Graph",
    "chain_rule",
    "changed",
    "clean",
    "factor",
    "is_constant",
    "label_text",
    "names",
    "number",
    "roles",
    "short",
    "walk",
    "wrap",
]

MAX_PATHS = 4
"""``chain_rule`` writes out at most this many paths; past it, only how many and their sum."""

_MAX_NAME = 20  # a derived expression longer than this is not a name worth reading

MAX_LABEL = 200
"""A label longer than this many characters is cut, with an ellipsis, where it is shown: past
about 16,000 Graphviz cannot lay a label out, and far before that it is no longer a name."""

# How tightly each infix op binds, for parentheses in derived names.
_INFIX = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}
_ATOM = 9

_ROLES = {"-": ("a", "b"), "/": ("a", "b"), "**": ("base", "exponent")}
_COMMUTATIVE = {"+", "*"}


def short(x: float) -> str:
    """``number``, but a whole number without decimals (the ``1`` and ``-1`` of ``+`` and ``-``)."""
    return str(int(x)) if x.is_integer() and abs(x) < 1e6 else number(x)


def number(x: Any) -> str:
    """A node's data or grad as a picture shows it: 4 decimals, never ``-0.0000``.

    Zero (of either sign) is ``0``; magnitudes below 1e-4 or from 1e6 up are in exponent
    form, so a tiny gradient does not read as zero.

    >>> number(0.0148352), number(-0.0), number(-1e-9), number(2.5e7), number(float("nan"))
    ('0.0148', '0', '-1.000e-09', '2.500e+07', 'nan')
    """
    if x is None:  # a grad no backward() has reached
        return "None"
    if isinstance(x, Value):  # a gradient after backward(create_graph=True)
        x = x.data
    x = float(x)
    if x == 0.0:
        return "0"
    if not math.isfinite(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    if 1e-4 <= abs(x) < 1e6:
        return f"{x:.4f}"
    return f"{x:.3e}"


def clean(text: str) -> str:
    """User text on one line: whitespace runs become one space, control characters are shown escaped."""
    if text.isprintable() and "  " not in text and text == text.strip():
        return text  # the usual case, quickly
    text = " ".join(text.split())
    return "".join(
        c if unicodedata.category(c)[0] != "C" else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
        for c in text
    )


def is_constant(node: Value) -> bool:
    """True for a leaf the engine made from a plain number (the ``2`` of ``x * 2``).

    A leaf the user made, ``Value(0.5)``, labelled or not, is an input or a parameter: the
    pictures show its data and grad. ``as_value`` marks the leaves it makes from numbers.
    """
    return node._op is None and node._xa is as_value


def label_text(node: Value) -> str | None:
    """A node's label as the pictures show it: on one line, at most ``MAX_LABEL`` characters;
    None for no label, or a blank one (``""``, spaces), which names nothing.

    Raises:
        TypeError: the label is not a str (it was set as an attribute after the Value was made).
    """
    label = node.label
    if label is None:
        return None
    if not isinstance(label, str):
        raise TypeError(
            f"the label of Value(data={node.data!r}) must be a str or None, "
            f"got {type(label).__name__} {label!r}"
        )
    text = clean(label)
    if not text:
        return None
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def walk(root: Value) -> dict[Value, int]:
    """Every node below ``root``, numbered breadth first (nearest the root first), iteratively."""
    index = {root: 0}
    queue = deque([root])
    while queue:
        for p in queue.popleft().inputs:
            if p not in index:
                index[p] = len(index)
                queue.append(p)
    return index


def roles(node: Value) -> tuple[str, ...] | None:
    """The names of the operands of an op where their order matters (``a - b``), else None."""
    if node.op is None or node.op in _COMMUTATIVE or len(node.inputs) < 2:
        return None
    return _ROLES.get(node.op, tuple(f"arg {i + 1}" for i in range(len(node.inputs))))


def names(
    root: Value, index: dict[Value, int] | None = None, order: list[Value] | None = None
) -> dict[Value, str]:
    """A short name for every node below ``root``: its label, a constant's value, or its expression.

    An unlabelled interior node is named by its expression when that is short (``w1*a0``),
    else ``#N`` after its number in ``index`` (default: ``walk(root)``). ``order`` is
    ``backward_order(root)`` when the caller has it.
    """
    index = walk(root) if index is None else index
    out: dict[Value, str] = {}
    binding: dict[Value, int] = {}
    leaves = [node for node in index if node.is_leaf]
    order = backward_order(root) if order is None else order
    for node in leaves + order[::-1]:  # inputs before their consumers
        text = label_text(node)
        if text is not None:
            out[node], binding[node] = text, _ATOM
        elif node.is_leaf:
            out[node], binding[node] = f"{node.data:.6g}", _ATOM if node.data >= 0 else 3
        else:
            text, strength = _expression(node, out, binding)
            # An op's constants are part of its name, not of the expression's length.
            if len(text) - len(", ".join(changed(node))) > _MAX_NAME:
                text, strength = f"#{index[node]}", _ATOM
            out[node], binding[node] = text, strength
    return out


def _expression(node: Value, out: dict[Value, str], binding: dict[Value, int]) -> tuple[str, int]:
    op = node.op
    assert op is not None
    parts = [out.get(p, "…") for p in node.inputs]
    if op in _INFIX and len(parts) == 2:
        strength = _INFIX[op]
        a, b = node.inputs
        # Left-associative, except ** which groups to the right.
        left = parts[0] if binding.get(a, _ATOM) > strength - (op != "**") else f"({parts[0]})"
        right = parts[1] if binding.get(b, _ATOM) > strength - (op == "**") else f"({parts[1]})"
        sep = f" {op} " if strength == 1 else op
        return f"{left}{sep}{right}", strength
    if op.startswith("**"):  # a constant power such as **2
        x = node.inputs[0]
        base = parts[0] if binding.get(x, _ATOM) > 4 else f"({parts[0]})"
        return f"{base}{op}", 4
    if op == "neg":
        x = node.inputs[0]
        return (f"-{parts[0]}" if binding.get(x, _ATOM) > 3 else f"-({parts[0]})"), 3
    # A family's member with other constants than the defaults says them, as PyTorch's keywords.
    return f"{op}({', '.join([*parts, *changed(node)])})", _ATOM


def changed(node: Value) -> tuple[str, ...]:
    """The constants of ``node``'s op that are not its defaults, as PyTorch's keyword arguments
    (``("negative_slope=0.2",)`` for ``x.leaky_relu(0.2)``); empty for other ops and leaves."""
    op = node.primitive
    return op.changed if isinstance(op, Parametric) else ()


# --- the chain rule along the paths from a node to the root ----------------------------------------


@dataclass(frozen=True)
class ChainRule:
    """d(root)/d(node) as the chain rule writes it: a sum over paths of products of local derivatives.

    ``paths`` holds each path as its edges from the root down, an edge being
    ``(consumer, input position)``; it is empty past ``MAX_PATHS`` paths (``count`` says how
    many there are). ``edges`` and ``nodes`` are everything on some path.
    """

    root: Value
    node: Value
    count: int
    paths: tuple[tuple[tuple[Value, int], ...], ...]
    edges: frozenset[tuple[Value, int]]
    nodes: frozenset[Value]
    value: float
    names: dict[Value, str]

    def symbol(self, edge: tuple[Value, int]) -> str:
        """The local derivative of one edge, as ``∂out/∂in``."""
        consumer, i = edge
        return f"∂{wrap(self.names[consumer])}/∂{wrap(self.names[consumer.inputs[i]])}"

    def lines(self, width: int = 90) -> list[str]:
        """The chain rule in symbols and in numbers, wrapped to ``width`` characters."""
        lhs = f"∂{wrap(self.names[self.root])}/∂{wrap(self.names[self.node])} = "
        pad = " " * (len(lhs) - 2)
        if self.node is self.root:
            return [f"{lhs}1"]
        if self.count == 0:
            return [f"{lhs}0   ({self.names[self.root]} does not depend on {self.names[self.node]})"]
        if not self.paths:
            return [
                f"{lhs}the sum over {self.count} paths of the product of the local derivatives along each",
                f"{pad}= {number(self.value)}",
            ]
        symbols = [[self.symbol(e) for e in path] for path in self.paths]
        numbers = [[factor(_local_grad(e)) for e in path] for path in self.paths]
        lines = _wrap_terms(lhs, _terms(symbols, "·"), width, pad)
        lines += _wrap_terms(f"{pad}= ", _terms(numbers, "×"), width, pad)
        lines.append(f"{pad}= {number(self.value)}")
        return lines


def _local_grad(edge: tuple[Value, int]) -> float:
    consumer, i = edge
    return consumer.local_grads()[i]


class Graph:
    """What ``chain_rule`` needs to know about the graph below ``root``, found once for many questions."""

    def __init__(self, root: Value) -> None:
        self.root = root
        self.index = walk(root)
        self.order = backward_order(root)  # the interior nodes, each before its inputs
        self.names = names(root, self.index, self.order)

    @functools.cached_property
    def position(self) -> dict[Value, int]:
        return {v: k for k, v in enumerate(self.order)}

    @functools.cached_property
    def consumers(self) -> dict[Value, list[Value]]:
        found: dict[Value, list[Value]] = {}
        for v in self.order:
            for p in v.inputs:
                found.setdefault(p, []).append(v)
        return found


def chain_rule(root: Value, node: Value, *, graph: Graph | None = None) -> ChainRule:
    """The paths from ``node`` up to ``root`` and the chain rule along them.

    ``graph`` is ``Graph(root)``, for a caller that asks about many nodes of one graph.
    ``ValueError`` when ``node`` is not in the graph below ``root``.
    """
    graph = Graph(root) if graph is None else graph
    if node not in graph.index:
        raise ValueError(
            f"{_describe(node)} is not in the graph below the root: "
            "pass one of the Values it was computed from"
        )
    # The nodes that depend on `node`: everything above it, found through the consumers only.
    on_path = {node}
    stack = [node]
    while stack:
        for v in graph.consumers.get(stack.pop(), ()):
            if v not in on_path:
                on_path.add(v)
                stack.append(v)
    above = sorted((v for v in on_path if v is not node), key=graph.position.__getitem__)
    edges = frozenset((v, i) for v in above for i, p in enumerate(v.inputs) if p in on_path)
    if root not in on_path:
        return ChainRule(root, node, 0, (), frozenset(), frozenset(), 0.0, graph.names)
    counts = {node: 1}
    for v in reversed(above):  # inputs first: the number of paths from `node` to each
        counts[v] = sum(counts[p] for i, p in enumerate(v.inputs) if (v, i) in edges)
    # d(root)/d(node) by the same propagation as backward(), restricted to the paths.
    grads = {root: 1.0}
    for v in above:
        partials = v.local_grads()
        for i, p in enumerate(v.inputs):
            if (v, i) in edges:
                grads[p] = grads.get(p, 0.0) + grads[v] * partials[i]
    count = counts[root]
    paths = tuple(_paths(root, node, edges)) if count <= MAX_PATHS else ()
    return ChainRule(root, node, count, paths, edges, frozenset(on_path), grads[node], graph.names)


def _paths(
    root: Value, node: Value, edges: frozenset[tuple[Value, int]]
) -> Iterator[tuple[tuple[Value, int], ...]]:
    """Every path from ``root`` down to ``node`` along ``edges``, iteratively, in operand order."""
    stack: list[tuple[Value, tuple[tuple[Value, int], ...]]] = [(root, ())]
    while stack:
        v, path = stack.pop()
        if v is node:
            yield path
            continue
        for i in reversed(range(len(v.inputs))):
            if (v, i) in edges:
                stack.append((v.inputs[i], (*path, (v, i))))


def _describe(node: object) -> str:
    if isinstance(node, Value):
        return f"the Value {clean(node.label)!r}" if node.label is not None else repr(node)
    return f"{type(node).__name__} {node!r}"


def wrap(name: str) -> str:
    """``name`` in parentheses unless it reads as one term (``w1``, ``0.5``, ``sin(x)``)."""
    if all(c.isalnum() or c in "_.#" for c in name) and not name.startswith("-"):
        return name
    head, paren, _ = name.partition("(")
    if paren and head.isidentifier() and name.endswith(")") and _closes_at_end(name, len(head)):
        return name
    return f"({name})"


def _closes_at_end(text: str, start: int) -> bool:
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i == len(text) - 1
    return False


def factor(x: float) -> str:
    """A local derivative as a factor of a product: integers bare, negatives in parentheses."""
    text = short(x)
    return f"({text})" if text.startswith("-") else text


def _terms(paths: list[list[str]], times: str) -> list[str]:
    """One product per path, summed: the pieces a line may break before (each but the first)."""
    pieces: list[str] = []
    for k, factors in enumerate(paths):
        bracket = len(paths) > 1
        for j, factor in enumerate(factors):
            opening = "[" if bracket and j == 0 else ""
            closing = "]" if bracket and j == len(factors) - 1 else ""
            text = f"{opening}{factor}{closing}"
            pieces.append(text if j == 0 and k == 0 else f"{'+' if j == 0 else times} {text}")
    return pieces


def _wrap_terms(first: str, pieces: list[str], width: int, pad: str) -> list[str]:
    """``pieces`` after ``first``, a line broken before a piece that would pass ``width``."""
    lines = [first + pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) > width:
            lines.append(f"{pad}  {piece}")
        else:
            lines[-1] += f" {piece}"
    return lines
