"""Writing pictures: ``render`` lays a graph out and writes PNG, SVG, PDF, DOT or the HTML page.

``draw`` (``drawing.py``) builds the graph; ``layout`` finds and runs the layout program and
writes files atomically; ``page`` wraps the SVG into the interactive page.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microgrsucc import page
from microgrsucc.drawing import MAX_NODES, digraph
from microgrsucc.layout import lay_out, program_for, write_atomically
from microgrsucc.value import Value

if TYPE_CHECKING:  # graphviz is an optional dependency: imported when a picture is asked for
    import graphviz

__all__ = ["FORMATS", "render"]

FORMATS: dict[str, str] = {
    ".png": "png",
    ".svg": "svg",
    ".pdf": "pdf",
    ".html": "html",
    ".dot": "dot",
    ".gv": "dot",
}
"""The file suffixes ``render`` writes, and the format of each (``html``: the interactive page)."""

_DRAW_OPTIONS: dict[str, Any] = {
    "rankdir": "LR",
    "max_nodes": MAX_NODES,
    "local_grads": None,
    "highlight": None,
}


def render(
    root_or_digraph: Value | graphviz.Digraph,
    path: str | os.PathLike[str],
    *,
    program: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Path:
    """Write a picture of the graph to ``path``, in the format its suffix names; return the path.

    ``.png``, ``.svg`` and ``.pdf`` are laid out by ``program``; ``.dot`` and ``.gv`` are the
    DOT text and need no program. ``.html`` is one self-contained page (inline SVG, script and
    style; no network) that fits the graph to the window, steps through the backward pass and
    shows the chain rule for a node you click; it needs a Value. See docs/pictures.md.

    The file is written whole or not at all: into a temporary file in the same folder, then
    renamed over ``path`` (through a symbolic link at ``path``, to the file it points at, and
    keeping that file's permissions). On any failure the temporary file is removed and a file
    already at ``path`` is left as it was.

    Args:
        root_or_digraph: a Value (drawn with ``draw(root, **options)``) or a graph ``draw``
            returned (not for ``.html``, which needs the Value's numbers).
        path: the file to write; its suffix, in any case, is one of ``FORMATS``.
        program: the layout program; default ``find_layout_program()``: the system ``dot``,
            else ``graphviz-pure`` (which writes no PDF yet).
        **options: ``draw``'s keywords (``rankdir``, ``max_nodes``, ``local_grads``,
            ``highlight``), with a Value only; for ``.html`` also ``parameters``, the leaves
            the page's train control moves (default: every leaf with a label).

    Returns:
        ``path``, as a ``pathlib.Path``.

    Raises:
        ValueError: the suffix names no format ``render`` writes.
        TypeError: not a Value or a graph; options with a graph; a graph for ``.html``.
        LayoutProgramError: no layout program, or one that failed or cannot write the format.
        OSError: the file cannot be written; it names ``path``.

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
    parameters = None
    if isinstance(root_or_digraph, Value):
        parameters = options.pop("parameters", None) if fmt == "html" else None
        unknown = sorted(set(options) - set(_DRAW_OPTIONS))
        if unknown:
            raise TypeError(f"render() got options draw() does not take: {unknown}")
        # The page fills every box's grad in as it steps, so each box has a grad cell.
        drawn = digraph(root_or_digraph, **{**_DRAW_OPTIONS, **options}, grad_cells=fmt == "html")
    elif not hasattr(root_or_digraph, "source"):
        raise TypeError(f"render() expects a Value or a graphviz graph, got {type(root_or_digraph).__name__}")
    elif options:
        raise TypeError(f"render() takes draw options only with a Value, got {sorted(options)}")
    elif fmt == "html":
        raise TypeError("render() needs the Value, not a drawn graph, to write an HTML page")
    else:
        drawn = root_or_digraph
    source: str = drawn.source
    if fmt == "dot":
        write_atomically(path, source.encode("utf-8"))
        return path
    laid_out = lay_out(program_for(fmt, path, program), source, "svg" if fmt == "html" else fmt, path)
    if fmt == "html":
        assert isinstance(root_or_digraph, Value)
        max_nodes = options.get("max_nodes", MAX_NODES)
        svg = laid_out.decode("utf-8")
        text = page.html(root_or_digraph, svg, max_nodes=max_nodes, parameters=parameters)
        laid_out = text.encode("utf-8")
    write_atomically(path, laid_out)
    return path
