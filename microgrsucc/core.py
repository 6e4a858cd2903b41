"""What every floor of the package shares: number conversion, the op-error format, the modes.

It knows no ``Value``: the graph's nodes are built one floor up (``value.py``), and the
modes are read there on each op. Names here have no underscore because siblings import
them; the package's public names are re-exported from ``microgrsucc``.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import reprlib
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from microgrsucc.ops import Primitive

__all__ = [
    "call",
    "check_label",
    "detect_anomaly",
    "enable_grad",
    "is_grad_enabled",
    "is_real",
    "modes_set",
    "no_grad",
    "op_error",
    "recording_gradients",
    "set_grad_enabled",
    "state",
    "to_float",
    "to_sizes",
    "tracing",
]

_F = TypeVar("_F", bound=Callable[..., Any])


# --- numbers -----------------------------------------------------------------------------------


def is_real(x: object) -> bool:
    """True for the plain real numbers an op takes: int, float, Fraction, Decimal, numpy scalars."""
    if x.__class__ is float or x.__class__ is int:  # the common constants, without the ABC check
        return True
    return isinstance(x, (numbers.Real, Decimal)) and not isinstance(x, bool)


def to_float(x: object, where: str) -> float:
    """A real number as a float; ``TypeError`` naming ``where`` and the type for anything else.

    >>> to_float(3, "Value"), to_float(True, "Value")
    Traceback (most recent call last):
    TypeError: Value expects a real number, got bool: True
    """
    if x.__class__ is float:
        return x
    if not is_real(x):
        hint = ""
        if hasattr(x, "grad") and hasattr(x, "backward"):  # a Value (core cannot import value)
            # Inside a compiled loss every sample argument is a traced Value (one with a
            # trace), so the Value(x) that eager code writes for its float meets one.
            hint = (
                " (inside a compiled loss each sample argument is a Value already: use it as it "
                "is, x * w rather than Value(x) * w)"
                if hasattr(x, "trace")
                else " (it is a Value already: use it as it is, or x.item() for its number)"
            )
        raise TypeError(f"{where} expects a real number, got {type(x).__name__}: {reprlib.repr(x)}{hint}")
    try:
        return float(x)  # type: ignore[arg-type]
    except OverflowError:
        raise OverflowError(f"{where}: {reprlib.repr(x)} is too large for a float") from None


def to_sizes(sizes: object, where: str, name: str, many: bool = False) -> list[int]:
    """``sizes`` (one int, or with ``many`` a sequence of them) as ints, numpy integers too; a
    float, a string or a bool is a TypeError naming ``where`` and ``name`` (``range()`` would
    refuse it with no name, or take ``True`` as 1)."""
    kind = "a sequence of ints" if many else "an int"
    if many and (isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence)):
        raise TypeError(f"{where}: {name} must be {kind}, got {type(sizes).__name__}: {sizes!r:.40}")
    for n in sizes if many else [sizes]:  # type: ignore[attr-defined]
        if isinstance(n, bool) or not hasattr(n, "__index__"):
            raise TypeError(f"{where}: {name} must be {kind}, got {type(n).__name__}: {n!r:.40}")
    return [n.__index__() for n in (sizes if many else [sizes])]  # type: ignore[attr-defined]


def check_label(label: object) -> Any:
    """A Value's label as given: a str or None; ``TypeError`` for anything else (``label=1``)."""
    if label is None or isinstance(label, str):
        return label
    raise TypeError(
        f"Value(label=...) takes a str or None, got {type(label).__name__}: {reprlib.repr(label)}"
    )


# --- errors ------------------------------------------------------------------------------------


def call(op: Primitive, operands: Sequence[float]) -> str:
    """How an error shows an op applied to its operands: ``log(-1.0)``, ``1.0 / 0.0``."""
    shown = [reprlib.repr(x) for x in operands]
    if op.name.isidentifier():
        return f"{op.name}({', '.join(shown)})"
    if len(shown) == 1:
        return f"{shown[0]} {op.name}"  # a constant power such as "**0.5"
    return f" {op.name} ".join(shown)


def op_error(op: Primitive, err: Exception, *operands: float) -> Exception:
    """The same kind of error, naming the op and its operands: ``log(-1.0): the operand must be > 0``."""
    if isinstance(err, OverflowError):
        reason = "the result is too large for a float"
    elif isinstance(err, ZeroDivisionError) and str(err) in ("float division by zero", "division by zero"):
        reason = "division by zero"
    else:
        reason = str(err)
    return type(err)(f"{call(op, operands)}: {reason}")


# --- modes: no_grad(), enable_grad(), set_grad_enabled(), detect_anomaly(), tracing ----------
# Each thread has its own modes, in ``state``, and a switch holds for one block or one call
# in one thread: a decorated function saves and restores the modes on each call (and on each
# resume of a generator), so two threads calling it never see each other's modes.
# ``modes_set`` counts the threads whose modes are not the defaults (grad on, no anomaly
# check), so the common case costs each op one read of ``modes_set`` instead of a
# thread-local lookup.


# How many threads have a mode that is not the default; a one-item list, so the recording
# functions can read it in one step. At rest it holds False, not 0: every op tests it, and an
# `if` on a bool skips the call that an int's truth value costs (about 1% of building a graph).
modes_set: list[int] = [False]
_modes_lock = threading.Lock()


class _Counted:
    """Held by a thread while its modes are not the defaults: one count in ``modes_set``.

    It lives in the thread's ``state``, so a thread that ends with a mode still set (a
    ``set_grad_enabled(False)`` call never undone) gives its count back when Python drops
    the thread's locals; otherwise every op in the process would stay on the slow path.
    """

    def __init__(self) -> None:
        with _modes_lock:
            modes_set[0] += 1

    def __del__(self) -> None:
        with _modes_lock:
            modes_set[0] = modes_set[0] - 1 or False


class _State(threading.local):
    grad_enabled = True
    anomaly = 0
    counted: _Counted | None = None
    traced: list[Any]  # the inputs of the transforms running in this thread
    compiling = 0  # how many compile() traces are running in this thread

    def __init__(self) -> None:
        self.traced = []


state = _State()


def _set_modes(grad_enabled: bool, anomaly: int) -> None:
    state.grad_enabled = grad_enabled
    state.anomaly = anomaly
    if grad_enabled and not anomaly:
        state.counted = None  # gives the count back
    elif state.counted is None:
        state.counted = _Counted()


class _Saved(threading.local):
    """The modes each open ``with`` block of one switch found on entry, per thread."""

    # set_grad_enabled's call has switched in this thread and saved what it found, for
    # the first with block (or the decorator) to take over.
    primed = False

    def __init__(self) -> None:
        self.stack: list[tuple[bool, int]] = []


class _Mode:
    """A per-thread switch usable as a context manager or a decorator, bare or called.

    Each ``with`` block restores, on exit, the modes it found on entry; a decorated
    function does the same around each call, in the calling thread.
    """

    _saved: _Saved

    def __new__(cls, fn: Any = None) -> Any:
        if fn is not None and not callable(fn):  # detect_anomaly(False) would wrap False
            raise TypeError(
                f"{cls.__name__} takes no argument (bare as a decorator, a function), "
                f"got {type(fn).__name__}: {reprlib.repr(fn)}"
            )
        self = super().__new__(cls)
        self._saved = _Saved()  # per thread, one entry per open block: nests and recurses
        return self if fn is None else self(fn)

    def _modes(self) -> tuple[bool, int]:
        raise NotImplementedError

    def __enter__(self) -> None:
        self._saved.stack.append((state.grad_enabled, state.anomaly))
        _set_modes(*self._modes())

    def __exit__(self, *exc_info: object) -> None:
        _set_modes(*self._saved.stack.pop())

    def __call__(self, fn: _F) -> _F:
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            saved = state.grad_enabled, state.anomaly
            _set_modes(*self._modes())
            try:
                return fn(*args, **kwargs)
            finally:
                _set_modes(*saved)

        return wrapper  # type: ignore[return-value]

    def _wrap_generator(self, fn: _F) -> _F:
        """The generator's body runs under the mode on each resume, and the caller's
        modes come back at each ``yield`` (as torch wraps each ``send``)."""

        def resume(step: Callable[..., Any], *args: Any) -> Any:
            saved = state.grad_enabled, state.anomaly
            _set_modes(*self._modes())
            try:
                return step(*args)
            finally:
                _set_modes(*saved)

        return resumed_by(fn, resume)


def resumed_by(fn: _F, resume: Callable[..., Any]) -> _F:
    """The generator function ``fn`` with its body run by ``resume(step, *args)`` at its
    start and at each resume (``send``, ``throw``, ``close``): a decorator's scope holds
    while the body runs, not between its ``yield``s, where the caller's code runs."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gen = resume(fn, *args, **kwargs)
        try:
            response = resume(gen.send, None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    resume(gen.close)
                    raise
                except BaseException as err:
                    response = resume(gen.throw, err)
                else:
                    response = resume(gen.send, request)
        except StopIteration as stop:
            return stop.value

    return wrapper  # type: ignore[return-value]


class no_grad(_Mode):
    """Ops record no graph in this thread while it is open (as ``torch.no_grad``).

    Also a decorator, bare (``@no_grad``) or called (``@no_grad()``), of functions and
    generator functions: the mode holds for each call, in the calling thread. Transforms,
    ``gradients`` and ``backward(create_graph=True)`` record what they need all the same.
    A result computed under it is a leaf with no graph: ``backward()`` on it raises.

    >>> from microgrsucc import Value
    >>> x = Value(2.0)
    >>> with no_grad():
    ...     y = x * x
    >>> y.data, y.is_leaf
    (4.0, True)
    """

    def _modes(self) -> tuple[bool, int]:
        return False, state.anomaly


class enable_grad(_Mode):
    """Ops record their graph again inside ``no_grad()`` (as ``torch.enable_grad``)."""

    def _modes(self) -> tuple[bool, int]:
        return True, state.anomaly


class set_grad_enabled(_Mode):
    """Turn recording on or off in this thread (as ``torch.set_grad_enabled``).

    Called, it switches at once; used with ``with``, the previous mode comes back on exit;
    used as a decorator (``@set_grad_enabled(False)``), the call is undone and the mode
    holds for each call of the function, as in torch.

    Raises:
        TypeError: ``mode`` is not a bool (as torch: ``"False"`` or ``None`` is no mode).

    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    """

    _mode: bool

    def __new__(cls, mode: bool) -> Any:
        if not isinstance(mode, bool):  # as torch: set_grad_enabled("False") must not record
            raise TypeError(f"set_grad_enabled(mode) expects a bool, got {type(mode).__name__}: {mode!r:.40}")
        self = super().__new__(cls)
        self._mode = mode
        # As in torch, the call itself switches; the with block only restores on exit.
        self._saved.stack.append((state.grad_enabled, state.anomaly))
        self._saved.primed = True
        _set_modes(self._mode, state.anomaly)
        return self

    def _modes(self) -> tuple[bool, int]:
        return self._mode, state.anomaly

    def __enter__(self) -> None:
        if self._saved.primed:  # the call has switched already; __exit__ restores what it found
            self._saved.primed = False
        else:  # a second with block of this switch, or one in another thread: as any switch
            super().__enter__()

    def __call__(self, fn: _F) -> _F:
        if not callable(fn):
            raise TypeError(f"set_grad_enabled decorates a function, got {type(fn).__name__}")
        if self._saved.primed:  # a decorator, not a switch: undo the constructor's switch
            self._saved.primed = False
            _set_modes(*self._saved.stack.pop())
        return super().__call__(fn)


class detect_anomaly(_Mode):
    """Raise ``FloatingPointError`` at the first op whose value or gradient is NaN or infinite.

    The message names the op and its inputs. Slower; for finding where a NaN comes from.
    """

    def _modes(self) -> tuple[bool, int]:
        return state.grad_enabled, state.anomaly + 1


class recording_gradients(_Mode):
    """Ops record (as in ``enable_grad``) with no per-op anomaly check: for building the
    gradient graph of ``create_graph=True``, whose gradients are checked per node of the
    user's graph instead, so that an error names the op the user wrote."""

    def _modes(self) -> tuple[bool, int]:
        return True, 0


def is_grad_enabled() -> bool:
    """False inside ``no_grad()`` in the current thread."""
    return state.grad_enabled


class tracing:
    """While open, ``float()`` and friends refuse Values that depend on ``nodes`` (this thread)."""

    def __init__(self, nodes: Sequence[Any]) -> None:
        self.nodes = nodes

    def __enter__(self) -> None:
        state.traced.extend(self.nodes)

    def __exit__(self, *exc_info: object) -> None:
        del state.traced[len(state.traced) - len(self.nodes) :]
