"""Pausing Python's cyclic garbage collector around a training step, and only there.

A graph of Values has no reference cycles, so reference counting frees it the moment the
last name for its output goes; the cyclic collector has nothing to find in it. Yet every
Value is a container object, so building a graph of n nodes triggers the collector's
passes, and once the graph outgrows about a quarter of the process's long-lived objects,
full passes over the whole heap. Their cost per node grows with the graph: on CPython 3.11
an eager step of 10^6 nodes spends about half its time there (docs/performance.md).

The eager engine does not change the process's collector behind the user's back: the pause
is asked for, by a ``with`` block (or a decorator) around the work, and it ends with it.
The one place the library pauses it itself is ``compile``'s own work, while it traces a loss
and writes its code (about a fifth of that time at 85k traced nodes), said in its docstring.
"""

from __future__ import annotations

import functools
import gc
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from microgrsucc.core import resumed_by

__all__ = ["collector_paused"]

_F = TypeVar("_F", bound=Callable[..., Any])

# The collector's switch is one per process, shared by every thread, so the pauses are
# counted: the first to enter records the switch and turns it off, the last to leave
# restores it, whichever threads they run on.
_lock = threading.Lock()
_depth = 0
_was_enabled = False


class collector_paused:
    """Turn Python's cyclic garbage collector off inside a block; restore it on leaving.

    Eager mode's graphs have no reference cycles, so reference counting alone frees them,
    and the collector's passes over a growing graph are wasted work whose cost per node
    grows with the graph. Wrap the step that builds a graph and calls ``backward()``.

    The pause is process-wide while it lasts (the collector has one switch, shared by all
    threads). Blocks nest and may overlap across threads: the first block entered records
    whether the collector was on and turns it off; it stays off until the last block is
    left, which restores the recorded state, also when the block raises. Nothing else
    about the collector changes (thresholds, frozen objects). Cycles made inside the block
    by other code are collected after it, at the collector's next pass.

    Also usable as a decorator: ``@collector_paused()``. On a generator function the pause
    holds while its body runs, from each resume to its next ``yield`` (as ``no_grad``).

    >>> import gc
    >>> from microgrsucc import Value, collector_paused
    >>> w = Value(0.5)
    >>> with collector_paused():
    ...     loss = (w * 3.0 - 1.0).relu()
    ...     loss.backward()
    ...     print(gc.isenabled())
    False
    >>> gc.isenabled(), w.grad
    (True, 3.0)
    """

    def __enter__(self) -> None:
        global _depth, _was_enabled
        with _lock:
            if _depth == 0:
                _was_enabled = gc.isenabled()
                gc.disable()
            _depth += 1

    def __exit__(self, *exc_info: object) -> None:
        global _depth
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()

    def __call__(self, fn: _F) -> _F:
        if inspect.isgeneratorfunction(fn):
            return resumed_by(fn, _paused)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with collector_paused():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _paused(step: Callable[..., Any], *args: Any) -> Any:
    with collector_paused():
        return step(*args)
