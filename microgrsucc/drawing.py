"""Pictures of computation graphs: ``draw`` builds a Graphviz graph, ``render`` writes a file.

``draw`` needs the ``graphviz`` package (the ``render`` extra installs it). Writing PNG, SVG or
PDF also needs a layout program: the system Graphviz ``dot`` when it is on PATH, else the
``graphviz-pure`` program from the PyPI wheel of that name. ``.dot`` and ``.gv`` files are DOT
text and need no program at all.

>>> from microgrsucc import Value, draw
>>> x = Value(2.0, label="x")
>>> print(draw(x * x, max_nodes=None).source)  # doctest: +ELLIPSIS
digraph {
...
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import warnings
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microgrsucc.engine import Value

if TYPE_CHECKING:  # graphviz is an optional dependency: imported when a picture is asked for
    import graphviz

__all__ = ["MAX_NODES", "FORMATS", "LayoutProgramError", "draw", "find_layout_program", "render"]

MAX_NODES = 500
"""``draw``'s default node limit: past a few hundred nodes a picture is no longer readable."""

FORMATS: dict[str, str] = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
"""The file suffixes ``render`` writes, and the Graphviz output format of each."""

RANKDIRS = ("LR", "RL", "TB", "BT")

_ROOT_STYLE = {"style": "filled,bold", "fillcolor": "#cfe3f5", "penwidth": "2"}
_OP_STYLE = {
    "shape": "oval",
    "style": "filled",
    "fillcolor": "#eeeeee",
    "fontsize": "11",
    "width": "0.3",
    "height": "0.3",
    "margin": "0.04",
}

_INSTALL_HINT = (
    "install the render extra (pip install 'microgrsucc[render]', which brings graphviz-pure) "
    "or Graphviz itself (apt install graphviz, brew install graphviz, "
    "conda install -c conda-forge graphviz); .dot and .gv files need neither"
)


class LayoutProgramError(RuntimeError):
    """No layout program is found, or the one found cannot write the format asked for."""


# --- finding the layout program ------------------------------------------------------------


def find_layout_program() -> Path | None:
    """The program ``render`` lays graphs out with, or None when there is none.

    The system Graphviz ``dot`` on PATH comes first; then ``graphviz-pure``, on PATH or where
    pip installed it (a virtual environment's ``bin`` need not be on PATH).
    """
    found = shutil.which("dot") or shutil.which("graphviz-pure") or _installed_graphviz_pure()
    return None if found is None else Path(found)


def _installed_graphviz_pure() -> str | None:
    """The ``graphviz-pure`` executable of the installed wheel, found from its file list."""
    try:
        dist = importlib.metadata.distribution("graphviz-pure")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.stem == "graphviz-pure" and file.suffix in ("", ".exe"):
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


def _is_graphviz_pure(program: Path) -> bool:
    return program.stem == "graphviz-pure"


def _point_graphviz_at_layout_program(graphviz_module: Any) -> None:
    """Let the graphviz package itself (``Digraph.render``, Jupyter display) run graphviz-pure.

    The package runs a program named ``dot``. When there is none on PATH we set its
    ``DOT_BINARY`` to graphviz-pure rather than touch the user's PATH; a ``DOT_BINARY`` the
    user has set themselves is left alone.
    """
    dot_command = graphviz_module.backend.dot_command
    if os.fspath(dot_command.DOT_BINARY) != "dot" or shutil.which("dot"):
        return
    program = find_layout_program()
    if program is not None:
        dot_command.DOT_BINARY = program


def _import_graphviz() -> Any:
    try:
        import graphviz
    except ImportError:
        raise ModuleNotFoundError(
            "drawing graphs needs the graphviz package: pip install 'microgrsucc[render]'"
        ) from None
    return graphviz


# --- drawing ---------------------------------------------------------------------------------


def _number(x: Any) -> str:
    """4 decimals; large magnitudes in exponent form so a node stays narrow."""
    if isinstance(x, Value):  # a gradient after backward(create_graph=True)
        x = x.data
    x = float(x)
    return f"{x:.4f}" if abs(x) < 1e6 or x != x else f"{x:.4e}"


_RECORD_SPECIAL = re.compile(r'([\\{}|<>"])')


def _record_text(text: str) -> str:
    """Text safe inside a record label: its field separators and quotes escaped."""
    return _RECORD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _walk(root: Value) -> dict[Value, int]:
    """Every node below ``root``, numbered breadth first (nearest the root first), iteratively."""
    index = {root: 0}
    queue = deque([root])
    while queue:
        for p in queue.popleft().inputs:
            if p not in index:
                index[p] = len(index)
                queue.append(p)
    return index


def draw(root: Value, *, rankdir: str = "LR", max_nodes: int | None = MAX_NODES) -> graphviz.Digraph:
    """The graph below ``root`` as a ``graphviz.Digraph``: one box per Value, one oval per op.

    Each box shows the Value's label (when it has one), its data and its grad, to 4 decimals;
    each op sits between its inputs and its output, and a Value used twice is drawn once.
    The root is filled and bold. ``rankdir`` is Graphviz's direction: ``"LR"`` (left to right)
    or ``"TB"`` (top to bottom), ``"RL"``, ``"BT"``.

    Past ``max_nodes`` Values only the ``max_nodes`` nearest the root are drawn: each input
    left out becomes a "…" node, the picture's title says how many are shown, and a
    ``UserWarning`` says so too. ``max_nodes=None`` draws them all. The walk is iterative, so
    graphs of any depth draw.

    In Jupyter the returned graph displays itself inline.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw() expects a Value, got {type(root).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1 (or None for no limit), got {max_nodes}")
    graphviz_module = _import_graphviz()
    _point_graphviz_at_layout_program(graphviz_module)

    index = _walk(root)
    total = len(index)
    shown = total if max_nodes is None else min(total, max_nodes)
    graph_attr = {"rankdir": rankdir}
    if shown < total:
        graph_attr.update(label=f"showing the {shown} nodes nearest the root of {total}", labelloc="t")
        warnings.warn(
            f"draw(): the graph has {total} nodes; showing the {shown} nearest the root "
            "(pass max_nodes=None to draw them all)",
            stacklevel=2,
        )
    dot = graphviz_module.Digraph(graph_attr=graph_attr, node_attr={"shape": "record"})
    nohtml = graphviz_module.nohtml
    # In a left-to-right layout a record's fields stack vertically unless wrapped in braces.
    braces = "{%s}" if rankdir in ("LR", "RL") else "%s"
    elided: set[int] = set()

    for node, i in index.items():
        if i >= shown:
            break
        fields = [f"data {_number(node.data)}", f"grad {_number(node.grad)}"]
        if node.label is not None:
            fields.insert(0, _record_text(node.label))
        dot.node(f"v{i}", nohtml(braces % " | ".join(fields)), **(_ROOT_STYLE if i == 0 else {}))
        if node.op is None:
            continue
        op_id = f"v{i}op"
        dot.node(op_id, nohtml(node.op), **_OP_STYLE)
        dot.edge(op_id, f"v{i}")
        for p in node.inputs:
            j = index[p]
            if j >= shown and j not in elided:
                elided.add(j)
                dot.node(f"v{j}", "…", shape="plaintext")
            dot.edge(f"v{j}", op_id)
    return dot


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
    ``options`` go to ``draw`` (``rankdir``, ``max_nodes``) when a Value is given.

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
    else:
        digraph = root_or_digraph
    source: str = digraph.source
    if fmt == "dot":
        path.write_text(source, encoding="utf-8")
        return path
    if program is None:
        program = find_layout_program()
        if program is None:
            raise LayoutProgramError(f"no Graphviz layout program to write {path}: {_INSTALL_HINT}")
    program = Path(program)
    if fmt == "pdf" and _is_graphviz_pure(program):
        raise LayoutProgramError(
            "graphviz-pure cannot write PDF yet: write .svg or .png instead, "
            "or install Graphviz (apt install graphviz, brew install graphviz) for .pdf"
        )
    # Laid out in memory first, so a failure leaves no half-written file behind.
    try:
        done = subprocess.run(
            [os.fspath(program), "-Kdot", f"-T{fmt}"], input=source.encode(), capture_output=True
        )
    except OSError as err:
        raise LayoutProgramError(f"cannot run {program}: {err.strerror}; {_INSTALL_HINT}") from None
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise LayoutProgramError(
            f"{program.name} failed to write {fmt} (exit status {done.returncode})"
            + (f": {reason[0]}" if reason else "")
        )
    path.write_bytes(done.stdout)
    return path
