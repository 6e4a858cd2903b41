"""Where the numba backend's kernels live: numba caches machine code next to a function's
source file, so each kernel's source is a file named by its hash, in ``cache_dir()``, and a
second process that compiles the same loss loads numba's machine code instead of compiling.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

import numba

__all__ = ["cache_dir", "load"]

# One module is loaded at a time: ``load`` registers a module in sys.modules before running
# it (numba's cache finds the helpers by their module's name), so without the lock a thread
# making a step's first call beside another's would find the half-run module there.
_LOADING = threading.RLock()


def cache_dir() -> Path:
    """Where the kernels' source files and numba's cache of their machine code live:
    ``$MICROGRSUCC_CACHE_DIR/numba``, else ``$XDG_CACHE_HOME/microgrsucc/numba`` (by default
    ``~/.cache/microgrsucc/numba``); a temporary folder if that cannot be written."""
    base = os.environ.get("MICROGRSUCC_CACHE_DIR")
    if base:
        root = Path(base)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "microgrsucc"
    folder = root / "numba"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    folder = (
        Path(tempfile.gettempdir()) / f"microgrsucc-{os.getuid() if hasattr(os, 'getuid') else 0}" / "numba"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def load(source: str, kind: str = "kernel") -> ModuleType:
    """The module of ``source``, from a file named by ``kind`` and its hash (numba's cache needs a file);
    loaded once per process, so its functions compiled once stay compiled. Threads load one
    module at a time: one that asks for a module another is loading waits for it whole.

    A module may import another loaded before it by its name (``module.__name__``): the
    kernels import their helpers so, and the name, a hash, changes with the helpers' code."""
    key = f"{source}\n# numba {numba.__version__}, Python {sys.version}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    with _LOADING:
        loaded = sys.modules.get(f"microgrsucc_numba_{digest}")
        if loaded is not None:
            return loaded
        path = cache_dir() / f"{kind}_{digest}.py"
        if not path.exists():  # written once: numba's cache is keyed by the file's time stamp
            scratch = path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text(source)
            os.replace(scratch, path)
        spec = importlib.util.spec_from_file_location(f"microgrsucc_numba_{digest}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # numba's cache refers to the helpers by their module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[spec.name]
            raise
        return module
