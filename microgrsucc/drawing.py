"""Pictures of computation graphs: ``draw`` builds a Graphviz graph, ``render`` writes a file.

``draw`` needs the ``graphviz`` package (the ``render`` extra installs it). Writing PNG, SVG,
PDF or the interactive HTML page also needs a layout program: the system Graphviz ``dot`` when
it is on PATH, else the ``graphviz-pure`` program from the PyPI wheel of that name. ``.dot``
and ``.gv`` files are DOT text and need no program at all.

>>> from microgrsucc import Value, draw
>>> x = Value(2.0, label="x")
>>> print(draw(x * x, max_nodes=None).source)  # doctest: +ELLIPSIS
digraph {
...
"""

from __future__ import annotations

import html
import warnings
from typing import TYPE_CHECKING, Any

from microgrsucc.explain import (
    ChainRule,
    Graph,
    chain_rule,
    clean,
    is_constant,
    label_text,
    number,
    roles,
    short,
    wrap,
)
from microgrsucc.formula import formula
from microgrsucc.layout import (
    LayoutProgramError,
    find_layout_program,
    import_graphviz,
    point_graphviz_at_layout_program,
)
from microgrsucc.page import edge_id, node_id, op_id, output_id
from microgrsucc.value import Value

if TYPE_CHECKING:  # graphviz is an optional dependency: imported when a picture is asked for
    import graphviz

__all__ = ["MAX_NODES", "RANKDIRS", "LayoutProgramError", "digraph", "draw", "find_layout_program"]

MAX_NODES = 500
"""``draw``'s default node limit: past a few hundred nodes a picture is no longer readable."""

RANKDIRS = ("LR", "RL", "TB", "BT")
"""The directions ``draw`` lays a graph out in (Graphviz's ``rankdir``): left to right, top to bottom..."""


# The fonts a bare Debian has (fonts-dejavu-core), named so that both layout programs size the
# labels by that font's widths: system dot asks fontconfig, graphviz-pure has DejaVu Sans's
# widths built in (for "Helvetica" it would use Helvetica's, and a browser drawing the SVG in
# DejaVu Sans, which is wider, would run the text past its boxes). Courier is 0.6 em a letter,
# as DejaVu Sans Mono is, and the SVG names it with a monospace fallback.
_FONT = "DejaVu Sans"
_MONO = "Courier"
_INK, _FAINT, _PATH = "#222222", "#b4b4b4", "#d9480f"
_FILL = {"root": "#d6e9f8", "leaf": "#fff1c9", "interior": "#ffffff", "start": "#ffd8a8"}
_DERIVATIVE_INK = "#1c5d99"
_ROLE_INK = "#8a5a00"
# The op's symbol as it is printed: a typographic minus, times and division sign read at any size.
_EDGE_NOTE = (
    "On each arrow: the local derivative \u2202(op output)/\u2202(input) at these values.",
    "A node's grad = the sum over its arrows of (grad of the op's output) \u00d7 (the arrow's number).",
)

# --- drawing ---------------------------------------------------------------------------------


def _attributes(attrs: dict[str, str]) -> str:
    """A DOT attribute list. Values are ours: HTML-like labels ``<...>`` (user text inside is
    escaped by ``_h``) or plain words and numbers, quoted with DOT's two escapes."""
    items = []
    for key, value in attrs.items():
        if value[:1] == "<" and value[-1:] == ">":
            items.append(f"{key}={value}")
        elif '"' in value or "\\" in value:
            items.append(f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"')
        else:
            items.append(f'{key}="{value}"')
    return " ".join(items)


# Lines are added to the graph's body directly: the graphviz package quotes every attribute
# of every node again, which took 80% of the time to draw a large graph.
def _node(dot: Any, name: str, label: str, **attrs: str) -> None:
    dot.body.append(f"\t{name} [{_attributes({'label': label, **attrs})}]\n")


def _edge(dot: Any, tail: str, head: str, **attrs: str) -> None:
    dot.body.append(f"\t{tail} -> {head} [{_attributes(attrs)}]\n")


def _h(text: str) -> str:
    """User text for a Graphviz HTML-like label: one line, and nothing read as markup."""
    return html.escape(clean(text), quote=True)


def _font(text: str, *, color: str | None = None, face: str | None = None) -> str:
    attrs = "".join(f' {name}="{value}"' for name, value in (("COLOR", color), ("FACE", face)) if value)
    return f"<FONT{attrs}>{text}</FONT>" if attrs else text


def draw(
    root: Value,
    *,
    rankdir: str = "LR",
    max_nodes: int | None = MAX_NODES,
    local_grads: bool | None = None,
    highlight: Value | None = None,
) -> graphviz.Digraph:
    """The graph below ``root`` as a ``graphviz.Digraph``: one box per Value, one oval per op.

    - **Boxes.** A Value's box shows its name, its data and its grad (4 decimals; 0 is ``0``,
      never ``-0.0000``; tiny and huge numbers in exponent form). The name is its label in
      bold, or, for an unlabelled result of an op, the expression it computes in grey
      (``w1*a0``; ``#N`` when that is long). Every leaf you made, the inputs and parameters,
      labelled or not, is filled pale yellow and shows its data and grad. A grad of None (no
      ``backward()`` yet) is left out: the box shows the data alone. Only the constants the
      engine made from plain numbers (the ``2`` of ``x * 2``) are small dashed boxes holding
      their value. The root is filled blue, with a thick border.
    - **Ops** sit between their inputs and their output; a Value used twice is drawn once with
      two arrows. Where the operands' order matters (``-``, ``/``, ``**``, custom ops of two or
      more inputs) each arrow says which operand it is (``a``/``b``, ``base``/``exponent``,
      ``arg 1``...).
    - **Local derivatives.** With ``local_grads`` each arrow into an op reads ∂out/∂in at the
      recorded values (``∂/∂w = 2.5``), from the op table, so custom ops get it too. A node's
      grad is the sum over its arrows of the op output's grad times the arrow's number.
    - **highlight=leaf** draws every path from that Value up to the root in orange and the rest
      in grey, and captions the picture with the chain rule for it: the product of the local
      derivatives along each path, summed over the paths, and its value, which is
      ``leaf.grad`` after one ``root.backward()``.

    Past ``max_nodes`` Values only the ``max_nodes`` nearest the root are drawn: each input
    left out becomes a "…" node, the caption says how many are shown, and a ``UserWarning``
    says so too. The walk is iterative, so graphs of any depth draw. Labels are escaped, so
    nothing in them is read as DOT or markup; a blank label counts as none, and one longer
    than ``explain.MAX_LABEL`` characters is cut with an ellipsis. Text is set in DejaVu Sans,
    so the SVG reads the same whichever layout program sized it. In Jupyter the returned graph
    displays itself inline.

    Args:
        root: the Value whose graph is drawn (the loss, usually); it is the blue box.
        rankdir: Graphviz's direction, in any case: ``"LR"`` (left to right), ``"TB"`` (top
            to bottom), ``"RL"``, ``"BT"``.
        max_nodes: the most Values drawn, those nearest the root; None draws them all.
        local_grads: write each arrow's local derivative. None (the default) writes them once
            gradients exist (the root's grad is neither None nor 0).
        highlight: a Value of the graph whose paths to the root are drawn apart, with the
            chain rule for it as the caption.

    Returns:
        A ``graphviz.Digraph``; ``.source`` is its DOT text.

    Raises:
        TypeError: ``root`` or ``highlight`` is not a Value, a label is not a str, or
            ``max_nodes`` is not an int or None.
        ValueError: an unknown ``rankdir``, ``max_nodes`` below 1, or a ``highlight`` that is
            not in the graph below ``root``.
        ModuleNotFoundError: the ``graphviz`` package is not installed (the ``render`` extra).
    """
    return digraph(
        root,
        rankdir=rankdir,
        max_nodes=max_nodes,
        local_grads=local_grads,
        highlight=highlight,
        grad_cells=False,
    )


def digraph(
    root: Value,
    *,
    rankdir: str,
    max_nodes: int | None,
    local_grads: bool | None,
    highlight: Value | None,
    grad_cells: bool,
) -> graphviz.Digraph:
    """``draw``, where ``grad_cells`` gives every box a grad cell (``grad —`` for None), which
    the interactive page fills in as it steps through ``backward()``."""
    if not isinstance(root, Value):
        raise TypeError(f"draw() expects a Value, got {type(root).__name__}")
    direction = rankdir.upper() if isinstance(rankdir, str) else rankdir
    if direction not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)} (in any case), got {rankdir!r}")
    if (max_nodes is not None and not isinstance(max_nodes, int)) or isinstance(max_nodes, bool):
        raise TypeError(f"max_nodes must be an int (or None for no limit), got {max_nodes!r}")  # not 1.5
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1 (or None for no limit), got {max_nodes}")
    if highlight is not None and not isinstance(highlight, Value):
        raise TypeError(f"draw(highlight=...) expects a Value of the graph, got {type(highlight).__name__}")
    graphviz_module = import_graphviz()
    point_graphviz_at_layout_program(graphviz_module)

    graph = Graph(root)
    index, named = graph.index, graph.names
    rule = None if highlight is None else chain_rule(root, highlight, graph=graph)
    if local_grads is None:
        local_grads = root.grad is not None and number(root.grad) != "0"
    total = len(index)
    shown = total if max_nodes is None else min(total, max_nodes)

    caption: list[str] = []
    if shown < total:
        caption.append(f"showing the {shown} nodes nearest the root of {total}")
        warnings.warn(
            f"draw(): the graph has {total} nodes; showing the {shown} nearest the root "
            "(pass max_nodes=None to draw them all)",
            stacklevel=2,
        )
    graph_attr = {"rankdir": direction, "fontname": _FONT, "nodesep": "0.3", "ranksep": "0.35"}
    dot = graphviz_module.Digraph(
        graph_attr=graph_attr,
        node_attr={"fontname": _FONT, "fontsize": "12"},
        edge_attr={"fontname": _FONT, "fontsize": "11", "arrowsize": "0.7"},
    )
    across = direction in ("TB", "BT")  # fields side by side, else stacked
    elided: set[int] = set()
    for node, i in index.items():
        if i >= shown:
            break
        on = None if rule is None else node in rule.nodes
        _value_node(
            dot,
            node,
            i,
            named[node],
            across=across,
            on_path=on,
            start=node is highlight,
            grad_cell=grad_cells,
        )
        if node.op is None:
            continue
        op = op_id(i)
        _op_node(dot, node, op, on_path=on)
        _edge(dot, op, node_id(i), id=output_id(i), **_edge_style(on))
        operand_roles = roles(node)
        partials = node.local_grads() if local_grads else ()
        for k, p in enumerate(node.inputs):
            j = index[p]
            if j >= shown and j not in elided:
                elided.add(j)
                _node(dot, node_id(j), "<…>", id=node_id(j), shape="plaintext")
            attrs = _edge_style(None if rule is None else (node, k) in rule.edges)
            label = (
                []
                if not operand_roles
                else [
                    _font(
                        _h(operand_roles[k]), color=_FAINT if attrs.get("fontcolor") == _FAINT else _ROLE_INK
                    )
                ]
            )
            if partials:
                label.append(_derivative_label(named[p], partials[k], attrs.get("fontcolor")))
            if label:
                attrs["label"] = f"<{'<BR/>'.join(label)}>"
            _edge(dot, node_id(j), op, id=edge_id(i, k), **attrs)

    if rule is not None:
        caption += _chain_rule_caption(rule)
    if local_grads:
        caption += _EDGE_NOTE
    if caption:
        dot.body.append(f"\tlabel={_caption(caption)}\n\tlabelloc=b labeljust=l fontsize=13\n")
    return dot


def _value_node(
    dot: Any,
    node: Value,
    i: int,
    name: str,
    *,
    across: bool,
    on_path: bool | None,
    start: bool,
    grad_cell: bool,
) -> None:
    ink = _FAINT if on_path is False else _INK
    border = _PATH if on_path else ink
    box = node_id(i)
    if is_constant(node):  # the 2 of x * 2: the engine made it from a plain number
        _node(
            dot,
            box,
            f"<{_font(_h(f'{node.data:.6g}'), color=ink)}>",
            id=box,
            shape="box",
            style="rounded,dashed",
            color=border,
            penwidth="2" if on_path else "1",
            fontsize="11",
            width="0.3",
            height="0.25",
            margin="0.06,0.02",
        )
        return
    kind = "root" if i == 0 else "leaf" if node.is_leaf else "interior"
    fill = _FILL["start"] if start else _FILL[kind]
    cells = []
    if label_text(node) is not None:
        cells.append(f"<B>{_font(_h(name), color=ink)}</B>")
    elif not node.is_leaf:  # a leaf the user made without a label is named by its data alone
        cells.append(f"<I>{_font(_h(name), color=_FAINT if on_path is False else '#666666')}</I>")
    cells.append(_font(f"data {number(node.data)}", color=ink))
    if node.grad is not None or grad_cell:  # None: no gradient yet, so the data alone
        cells.append(_font(f"grad {'—' if node.grad is None else number(node.grad)}", color=ink))
    joiner = "" if across else "</TR><TR>"
    row = joiner.join(f"<TD>{cell}</TD>" for cell in cells)
    thick = i == 0 or on_path
    table = (
        f'<TABLE BORDER="{2 if thick else 1}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" '
        f'COLOR="{border}" BGCOLOR="{fill}"><TR>{row}</TR></TABLE>'
    )
    _node(dot, box, f"<{table}>", id=box, shape="plain")


def _op_node(dot: Any, node: Value, name: str, *, on_path: bool | None) -> None:
    op = node.primitive
    assert op is not None
    symbol = op.symbol
    short = len(symbol) <= 2
    ink = _FAINT if on_path is False else _INK
    _node(
        dot,
        name,
        f"<{_font(_h(symbol), color=ink)}>",
        id=name,
        shape="circle" if short else "ellipse",
        style="filled",
        fillcolor="#ffe8d6" if on_path else "#ececec",
        color=_PATH if on_path else ink,
        penwidth="2" if on_path else "1",
        fontsize="18" if short else "12",
        width="0.42" if short else "0.3",
        height="0.3",
        fixedsize="true" if short else "false",
        margin="0.04,0.02",
    )


def _edge_style(on_path: bool | None) -> dict[str, str]:
    if on_path is None:
        return {}
    if on_path:
        return {"color": _PATH, "penwidth": "2.4", "fontcolor": _PATH}
    return {"color": _FAINT, "fontcolor": _FAINT}


def _derivative_label(name: str, partial: float, color: str | None) -> str:
    """``∂/∂w = 2.5``: the local derivative of the op's output with respect to this input."""
    wrt = f"\u2202/\u2202{wrap(name)}" if len(name) <= 14 else "\u2202"
    return _font(_h(f"{wrt} = {short(partial)}"), color=color or _DERIVATIVE_INK)


def _chain_rule_caption(rule: ChainRule) -> list[str]:
    leaf = rule.names[rule.node]
    how = f"{rule.count} path" + ("s" if rule.count != 1 else "")
    lines = [
        f"The chain rule for {leaf}: multiply the local derivatives along each path up to "
        f"{rule.names[rule.root]} ({how}), add the paths:",
        *rule.lines(),
    ]
    if rule.paths and sum(map(len, rule.paths)) <= 60:  # the product in symbols, from the op table
        lines += ["In symbols:", *_wrapped(str(formula(rule.root, rule.node)), 90)]
    return lines


def _wrapped(text: str, width: int) -> list[str]:
    """A formula broken before a factor (`` · ``) past ``width`` characters, indented after."""
    lines = [""]
    for k, piece in enumerate(text.split(" · ")):
        if k and len(lines[-1]) + 3 + len(piece) > width:
            lines.append("    · " + piece)
        else:
            lines[-1] += (" · " if k else "") + piece
    return lines


def _caption(lines: list[str]) -> str:
    """A left-aligned caption; chain-rule lines (which align on their ``=``) in a fixed-width font."""
    rows = []
    for line in lines:
        text = _h(line) if not line.startswith(" ") else html.escape(line).replace(" ", "&#160;")
        mono = line.startswith(" ") or line.startswith("\u2202")
        rows.append(_font(text, face=_MONO if mono else None) + '<BR ALIGN="LEFT"/>')
    return f"<{''.join(rows)}>"
