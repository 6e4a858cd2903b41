"""The layout program and the files it writes: finding Graphviz, running it, writing atomically.

``draw`` (``drawing.py``) builds the DOT text; turning it into a PNG, SVG or PDF takes a
layout program: the system Graphviz ``dot``, or ``graphviz-pure`` from the PyPI wheel.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "INSTALL_HINT",
    "LayoutProgramError",
    "find_layout_program",
    "import_graphviz",
    "installed_graphviz_pure",
    "is_graphviz_pure",
    "lay_out",
    "program_for",
    "point_graphviz_at_layout_program",
    "write_atomically",
]

INSTALL_HINT = (
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
    found = shutil.which("dot") or shutil.which("graphviz-pure") or installed_graphviz_pure()
    return None if found is None else Path(found)


def installed_graphviz_pure() -> str | None:
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


def is_graphviz_pure(program: Path) -> bool:
    return program.stem == "graphviz-pure"


def program_for(fmt: str, path: Path, program: str | os.PathLike[str] | None = None) -> Path:
    """The layout program that will write ``path`` in ``fmt`` (png, svg, pdf; html lays out an SVG).

    Args:
        fmt: the picture format, as ``drawing.FORMATS`` names it (not ``dot``: that needs none).
        path: the file to be written, for the message.
        program: the program asked for; default ``find_layout_program()``.

    Raises:
        LayoutProgramError: there is no layout program, or it cannot write ``fmt``
            (graphviz-pure writes no PDF yet). Raised before anything is laid out, so a caller
            (the command line) can refuse ``-o`` before it prints anything.
    """
    found = find_layout_program() if program is None else Path(program)
    if found is None:
        raise LayoutProgramError(f"no Graphviz layout program to write {path}: {INSTALL_HINT}")
    if fmt == "pdf" and is_graphviz_pure(found):
        raise LayoutProgramError(
            f"graphviz-pure cannot write PDF yet ({path}): write .svg or .png instead, "
            "or install Graphviz (apt install graphviz, brew install graphviz) for .pdf"
        )
    return found


def point_graphviz_at_layout_program(graphviz_module: Any) -> None:
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


def import_graphviz() -> Any:
    try:
        import graphviz
    except ImportError:
        raise ModuleNotFoundError(
            "drawing graphs needs the graphviz package: pip install 'microgrsucc[render]'"
        ) from None
    return graphviz


def lay_out(program: Path, source: str, fmt: str, path: Path) -> bytes:
    """The picture in ``fmt`` as bytes, laid out in memory by ``program``."""
    try:
        done = subprocess.run(
            [os.fspath(program), "-Kdot", f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True
        )
    except OSError as err:
        raise LayoutProgramError(
            f"cannot run {program} to write {path}: {err.strerror}; {INSTALL_HINT}"
        ) from None
    if done.returncode != 0 or not done.stdout:
        reason = [
            line
            for line in done.stderr.decode(errors="replace").strip().splitlines()
            if "no value for width of non-ASCII" not in line
        ]
        raise LayoutProgramError(
            f"{program.name} failed to write {path} (exit status {done.returncode})"
            + (f": {reason[0]}" if reason else "")
        )
    return done.stdout


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file beside ``path``, then rename it over ``path``.

    A reader never sees half a file, and a failed write (a full disk, a file-size limit)
    leaves what was at ``path`` untouched. A file already at ``path`` keeps its permissions;
    a symbolic link at ``path`` stays one, and the file it points at is written. The
    ``OSError`` raised names ``path``.
    """
    target = Path(os.path.realpath(path))  # through any symbolic links, to the file itself
    try:
        mode: int | None = target.stat().st_mode & 0o7777
    except OSError:
        mode = None  # a new file: 0o666 less the umask, as open() would give it
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise
