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
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microgrsucc import page
from microgrsucc.explain import ChainRule, Graph, chain_rule, clean, number, roles, short, wrap
from microgrsucc.layout import (
    LayoutProgramError,
    find_layout_program,
    import_graphviz,
    lay_out,
    point_graphviz_at_layout_program,
    program_for,
    write_atomically,
)
from microgrsucc.value import Value

if TYPE_CHECKING:  # graphviz is an optional dependency: imported when a picture is asked for
    import graphviz

__all__ = ["MAX_NODES", "FORMATS", "RANKDIRS", "LayoutProgramError", "draw", "find_layout_program", "render"]

MAX_NODES = 500
"""``draw``'s default node limit: past a few hundred nodes a picture is no longer readable."""

FORMATS: dict[str, str] = {
    ".png": "png",
    ".svg": "svg",
    ".pdf": "pdf",
    ".html": "html",
    ".dot": "dot",
    ".gv": "dot",
}
"""The file suffixes ``render`` writes, and the format of each (``html``: the interactive page)."""

RANKDIRS = ("LR", "RL", "TB", "BT")
"""The directions ``draw`` lays a graph out in (Graphviz's ``rankdir``): left to right, top to bottom..."""

_FONT = "Helvetica"  # fontconfig finds a sans-serif for it everywhere (DejaVu Sans, Liberation Sans)
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
      (``w1*a0``; ``#N`` when that is long). Leaves with a label, the inputs and parameters
      you made, are filled pale yellow. **A leaf without a label is drawn as a constant**: a
      small dashed box holding its value, as for the ``2`` of ``x * 2`` (label a leaf to see
      its grad). The root is filled blue, with a thick border.
    - **Ops** sit between their inputs and their output; a Value used twice is drawn once with
      two arrows. Where the operands' order matters (``-``, ``/``, ``**``, custom ops of two or
      more inputs) each arrow says which operand it is (``a``/``b``, ``base``/``exponent``,
      ``arg 1``...).
    - **Local derivatives.** With ``local_grads`` each arrow into an op reads ∂out/∂in at the
      recorded values (``∂/∂w = 2.5``), from the op table, so custom ops get it too. A node's
      grad is the sum over its arrows of the op output's grad times the arrow's number. The
      default, None, shows them once gradients exist (the root's grad is not None or 0).
    - **highlight=leaf** draws every path from that Value up to the root in orange and the rest
      in grey, and captions the picture with the chain rule for it: the product of the local
      derivatives along each path, summed over the paths, and its value, which is
      ``leaf.grad`` after one ``root.backward()``. ``ValueError`` if it is not in the graph.

    ``rankdir`` is Graphviz's direction, in any case: ``"LR"`` (left to right), ``"TB"``
    (top to bottom), ``"RL"``, ``"BT"``. Past ``max_nodes`` Values only the ``max_nodes``
    nearest the root are drawn: each input left out becomes a "…" node, the caption says how
    many are shown, and a ``UserWarning`` says so too. ``max_nodes=None`` draws them all. The
    walk is iterative, so graphs of any depth draw. Labels are escaped, so nothing in them is
    read as DOT or markup. In Jupyter the returned graph displays itself inline.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw() expects a Value, got {type(root).__name__}")
    direction = rankdir.upper() if isinstance(rankdir, str) else rankdir
    if direction not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)} (in any case), got {rankdir!r}")
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
        _value_node(dot, node, i, named[node], across=across, on_path=on, start=node is highlight)
        if node.op is None:
            continue
        op_id = f"v{i}op"
        _op_node(dot, node, op_id, on_path=on)
        _edge(dot, op_id, f"v{i}", id=f"o{i}", **_edge_style(on))
        operand_roles = roles(node)
        partials = node.local_grads() if local_grads else ()
        for k, p in enumerate(node.inputs):
            j = index[p]
            if j >= shown and j not in elided:
                elided.add(j)
                _node(dot, f"v{j}", "<…>", id=f"v{j}", shape="plaintext")
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
            _edge(dot, f"v{j}", op_id, id=f"e{i}_{k}", **attrs)

    if rule is not None:
        caption += _chain_rule_caption(rule)
    if local_grads:
        caption += _EDGE_NOTE
    if caption:
        dot.body.append(f"\tlabel={_caption(caption)}\n\tlabelloc=b labeljust=l fontsize=13\n")
    return dot


def _value_node(
    dot: Any, node: Value, i: int, name: str, *, across: bool, on_path: bool | None, start: bool
) -> None:
    ink = _FAINT if on_path is False else _INK
    border = _PATH if on_path else ink
    if node.is_leaf and node.label is None:  # a constant that came from a plain number
        _node(
            dot,
            f"v{i}",
            f"<{_font(_h(f'{node.data:.6g}'), color=ink)}>",
            id=f"v{i}",
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
    if node.label is not None:
        title = f"<B>{_font(_h(node.label), color=ink)}</B>"
    else:
        title = f"<I>{_font(_h(name), color=_FAINT if on_path is False else '#666666')}</I>"
    cells = [
        title,
        _font(f"data {number(node.data)}", color=ink),
        _font(f"grad {number(node.grad)}", color=ink),
    ]
    joiner = "" if across else "</TR><TR>"
    row = joiner.join(f"<TD>{cell}</TD>" for cell in cells)
    thick = i == 0 or on_path
    table = (
        f'<TABLE BORDER="{2 if thick else 1}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" '
        f'COLOR="{border}" BGCOLOR="{fill}"><TR>{row}</TR></TABLE>'
    )
    _node(dot, f"v{i}", f"<{table}>", id=f"v{i}", shape="plain")


def _op_node(dot: Any, node: Value, op_id: str, *, on_path: bool | None) -> None:
    op = node.primitive
    assert op is not None
    symbol = op.symbol
    short = len(symbol) <= 2
    ink = _FAINT if on_path is False else _INK
    _node(
        dot,
        op_id,
        f"<{_font(_h(symbol), color=ink)}>",
        id=op_id,
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
    return [
        f"The chain rule for {leaf}: multiply the local derivatives along each path up to "
        f"{rule.names[rule.root]} ({how}), add the paths:",
        *rule.lines(),
    ]


def _caption(lines: list[str]) -> str:
    """A left-aligned caption; chain-rule lines (which align on their ``=``) in a fixed-width font."""
    rows = []
    for line in lines:
        text = _h(line) if not line.startswith(" ") else html.escape(line).replace(" ", "&#160;")
        mono = line.startswith(" ") or line.startswith("\u2202")
        rows.append(_font(text, face=_MONO if mono else None) + '<BR ALIGN="LEFT"/>')
    return f"<{''.join(rows)}>"


# --- rendering -------------------------------------------------------------------------------


def render(
    root_or_digraph: Value | graphviz.Digraph,
    path: str | os.PathLike[str],
    *,
    program: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Path:
    """Write a picture of the graph to ``path``, in the format its suffix names; return the path.

    ``.png``, ``.svg`` and ``.pdf`` are laid out by ``program`` (default: ``find_layout_program()``;
    graphviz-pure writes no PDF yet); ``.dot`` and ``.gv`` are the DOT text and need no program.
    ``.html`` is one self-contained page (inline SVG, script and style; no network) that steps
    through the backward pass and shows the chain rule for a leaf you click; it needs a Value.
    ``options`` go to ``draw`` (``rankdir``, ``max_nodes``, ``local_grads``, ``highlight``)
    when a Value is given.

    The file is written whole or not at all: into a temporary file in the same folder, then
    renamed over ``path``. On any failure the temporary file is removed, a file already at
    ``path`` is left as it was, and the ``OSError`` names ``path``.

    >>> render(Value(1.0, label="x"), "x.png")  # doctest: +SKIP
    PosixPath('x.png')
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the picture format from {str(path)!r}: "
            f"end the name with one of {', '.join(FORMATS)}"
        )
    if isinstance(root_or_digraph, Value):
        digraph = draw(root_or_digraph, **options)
    elif not hasattr(root_or_digraph, "source"):
        raise TypeError(f"render() expects a Value or a graphviz graph, got {type(root_or_digraph).__name__}")
    elif options:
        raise TypeError(f"render() takes draw options only with a Value, got {sorted(options)}")
    elif fmt == "html":
        raise TypeError("render() needs the Value, not a drawn graph, to write an HTML page")
    else:
        digraph = root_or_digraph
    source: str = digraph.source
    if fmt == "dot":
        write_atomically(path, source.encode("utf-8"))
        return path
    laid_out = lay_out(program_for(fmt, path, program), source, "svg" if fmt == "html" else fmt, path)
    if fmt == "html":
        assert isinstance(root_or_digraph, Value)
        max_nodes = options.get("max_nodes", MAX_NODES)
        text = page.html(root_or_digraph, laid_out.decode("utf-8"), max_nodes=max_nodes)
        laid_out = text.encode("utf-8")
    write_atomically(path, laid_out)
    return path
