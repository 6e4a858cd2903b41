# ruff: noqa: RUF002  -- the page prints the multiplication sign U+00D7
"""The interactive page: one self-contained HTML file that replays ``backward()`` step by step.

``render(root, "graph.html")`` lays the graph out as SVG (the same picture as ``draw``) and
wraps it here with the page's style and script: no network, no CDN, it opens from disk.
The page's HTML, CSS and JavaScript are package data files (``microgrsucc/assets/page.*``);
this module fills them in with the SVG and the graph's numbers (``DATA``, as JSON).
The script replays the backward pass in the engine's order (``backward_order``), each step
adding (upstream grad × local derivative) to the grad of each input, and shows the chain rule
for a node that is clicked. Every user string reaches the page as JSON and is shown with
``textContent``; the SVG's text is escaped by the layout program; so a label cannot add markup.
"""

from __future__ import annotations

import functools
import html as html_module
import json
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from microgrsucc.explain import Graph, chain_rule, changed, is_constant, label_text, wrap
from microgrsucc.formula import Symbols, formula, local_derivative, to_text
from microgrsucc.javascript import NotPrintable, op_object
from microgrsucc.value import Value

__all__ = [
    "ELEMENT_IDS",
    "MAX_RULES",
    "RULE_BUDGET",
    "RULE_WIDTH",
    "edge_id",
    "html",
    "node_id",
    "op_id",
    "output_id",
]

MAX_RULES = 80
"""The page carries the written-out chain rule of at most this many nodes (leaves first)."""

RULE_BUDGET = 200_000
"""... and stops writing them out once they have visited this many nodes (large graphs)."""

RULE_WIDTH = 46
"""The chain rule's lines are wrapped between terms to this many characters: the side panel's width."""

# The ids of the SVG's groups, which ``draw`` writes and the page's script finds, defined once
# here: the box of node ``i`` (numbered by ``explain.walk``), its op, the arrow from its
# ``k``-th input into the op, and the arrow from the op to the box.


def node_id(i: int | str) -> str:
    return f"v{i}"


def op_id(i: int | str) -> str:
    return f"v{i}op"


def edge_id(i: int | str, k: int | str) -> str:
    return f"e{i}_{k}"


def output_id(i: int | str) -> str:
    return f"o{i}"


ELEMENT_IDS = {
    "node": node_id("{i}"),
    "op": op_id("{i}"),
    "edge": edge_id("{i}", "{k}"),
    "output": output_id("{i}"),
}
"""The same ids as templates, for the page's script (``DATA.ids``): ``{"node": "v{i}", ...}``."""


def _grad_starts_none() -> bool:
    """Whether a new Value's grad is None (no gradient yet, as PyTorch) rather than 0.0."""
    return Value(0.0).grad is None


def html(root: Value, svg: str, *, max_nodes: int | None, parameters: Sequence[Value] | None = None) -> str:
    """The page for ``root``, around ``svg``: the graph as ``draw(root, max_nodes=...)`` lays it out.

    ``parameters`` are the leaves the page's train control moves (default: every leaf with a
    label); they must be leaves of the graph.
    """
    graph = Graph(root)
    index, named, order = graph.index, graph.names, graph.order
    total = len(index)
    shown = total if max_nodes is None else min(total, max_nodes)
    if parameters is None:
        parameters = [v for v in index if v.is_leaf and label_text(v) is not None]
    for p in parameters:
        if not isinstance(p, Value) or p not in index or not p.is_leaf:
            raise ValueError(f"parameters= takes leaves of the graph below the root, got {p!r}")
    ops, script, fallback = _operations(root, index, shown)
    nodes: list[dict[str, Any]] = []
    symbols = Symbols(named)
    for node, i in index.items():
        if i >= shown:
            break
        nodes.append(
            {
                "name": named[node],
                "data": float(node.data),
                "grad": _float(node.grad),
                "leaf": node.is_leaf,
                "constant": is_constant(node),
                "inputs": [index[p] for p in node.inputs],
                "local": list(node.local_grads()),
                "op": None if node.op is None else ops.get(node.primitive),
                "opName": node.op,
                "constants": list(changed(node)),  # after the operands: elu(x, alpha=0.5)
                "localText": []
                if fallback
                else [to_text(local_derivative(node, k, symbols)) for k in range(len(node.inputs))],
            }
        )
    visible = [node for node in index if index[node] < shown]
    chosen = sorted(visible, key=lambda v: (not v.is_leaf, v.label is None, index[v]))[:MAX_RULES]
    rules = {}
    spent = 0
    for node in chosen:
        if spent > RULE_BUDGET:  # a large graph: the rest show their paths and grad, not the rule
            break
        rule = chain_rule(root, node, graph=graph)
        rules[index[node]] = {
            "lines": rule.lines(width=RULE_WIDTH),
            "formula": str(formula(root, node, graph=graph)) if rule.paths and node is not root else None,
        }
        spent += len(rule.nodes)
    # The pass the page replays is the last backward() the engine ran, seeded with what it left
    # in the root (backward(0.0) leaves 0). With no backward() yet, it shows what backward() does.
    seed = _float(root.grad)
    called = seed is not None and (seed != 0.0 or _grad_starts_none() or _any_grad(visible))
    data = {
        "seed": seed if called else 1.0,
        "called": called,
        "seedNote": f"d{wrap(named[root])}/d{wrap(named[root])}"
        if called and seed == 1.0
        else "the gradient backward() was given"
        if called
        else "backward() starts with 1",
        "order": [index[v] for v in order if index[v] < shown],
        "nodes": nodes,
        "rules": rules,
        "shown": shown,
        "total": total,
        "rootName": named[root],
        "ids": ELEMENT_IDS,
        "live": not fallback,
        "fallback": fallback,
        "params": [index[p] for p in parameters if index[p] < shown],
    }
    parts = {
        "TITLE": html_module.escape(f"{named[root]}: backward() step by step"),
        "STYLE": _asset("page.css"),
        "SVG": _svg_body(svg),
        "DATA": _script_json(data),
        "OPS": script,
        "SCRIPT": _asset("page.js"),
    }
    # One pass over the template, so a label that reads "__DATA__" is not filled in itself.
    return re.sub(r"__(TITLE|STYLE|SVG|DATA|OPS|SCRIPT)__", lambda m: parts[m.group(1)], _asset("page.html"))


LIVE_NODES = 500
"""The page computes in the browser (editable leaves, training) for graphs of up to this many nodes."""


def _operations(root: Value, index: dict[Value, int], shown: int) -> tuple[dict[Any, int], str, str]:
    """The graph's ops, numbered, and the JavaScript array of them printed from the compiler's
    tree (``javascript.op_object``); or, when the page cannot compute, why (and ``null``)."""
    if shown < len(index):
        return {}, "null", "the page shows part of the graph, so it replays the recorded numbers"
    if len(index) > LIVE_NODES:
        return {}, "null", f"the graph has over {LIVE_NODES} nodes: the page replays the recorded numbers"
    numbered: dict[Any, int] = {}
    printed: list[str] = []
    try:
        for node in index:
            op = node.primitive
            if op is not None and op not in numbered:
                numbered[op] = len(printed)
                printed.append(op_object(op))
    except NotPrintable as err:
        return {}, "null", f"{err}: the page replays the recorded numbers and cannot recompute them"
    return numbered, "[\n" + ",\n".join(printed) + "\n]", ""


def _any_grad(nodes: list[Value]) -> bool:
    return any(node.grad is not None and _float(node.grad) != 0.0 for node in nodes)


def _float(x: Any) -> float | None:
    """A grad as a number: its data when it is a Value (create_graph), None for no gradient yet."""
    if x is None:
        return None
    return float(x.data if isinstance(x, Value) else x)


def _svg_body(svg: str) -> str:
    """The ``<svg>`` element alone: no XML prolog, doctype or comments before it."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("the layout program wrote no SVG")
    return svg[start:].strip()


def _script_json(data: dict[str, Any]) -> str:
    """``data`` as a JavaScript literal safe inside ``<script>``: no ``</script>``, no ``<!--``.

    NaN and infinities are written as ``NaN`` and ``Infinity``, which are JavaScript.
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


@functools.cache
def _asset(name: str) -> str:
    """One of the page's files, shipped as package data: ``page.html``, ``page.css``, ``page.js``."""
    return resources.files("microgrsucc").joinpath("assets").joinpath(name).read_text(encoding="utf-8")
