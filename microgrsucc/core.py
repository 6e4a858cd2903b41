"""What every floor of the package shares: number conversion, the op-error format, the modes.

It knows no ``Value``: the graph's nodes are built one floor up (``value.py``), and the
modes are read there on each op. Names here have no underscore because siblings import
them; the package's public names are re-exported from ``microgrsucc``.
"""

from __future__ import annotations

import functools
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
    "set_grad_enabled",
    "state",
    "to_float",
    "tracing",
]

_F = TypeVar("_F", bound=Callable[..., Any])


# --- numbers -----------------------------------------------------------------------------------


def is_real(x: object) -> bool:
    """True for the plain real numbers an op takes: int, float, Fraction, Decimal, numpy scalars."""
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
        raise TypeError(f"{where} expects a real number, got {type(x).__name__}: {reprlib.repr(x)}")
    try:
        return float(x)  # type: ignore[arg-type]
    except OverflowError:
        raise OverflowError(f"{where}: {reprlib.repr(x)} is too large for a float") from None


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
# Each thread has its own modes, in ``state``. ``modes_set`` counts the threads whose
# modes are not the defaults (grad on, no anomaly check), so the common case costs each op
# one read of ``modes_set`` instead of a thread-local lookup.


class _State(threading.local):
    grad_enabled = True
    anomaly = 0
    traced: list[Any]  # the inputs of the transforms running in this thread

    def __init__(self) -> None:
        self.traced = []


state = _State()


# How many threads have a mode that is not the default; a one-item list, so the recording
# functions can hold it in a closure and read it in one step.
modes_set = [0]
_modes_lock = threading.Lock()


def _set_modes(grad_enabled: bool, anomaly: int) -> None:
    was_default = state.grad_enabled and not state.anomaly
    state.grad_enabled = grad_enabled
    state.anomaly = anomaly
    now_default = grad_enabled and not anomaly
    if was_default != now_default:
        with _modes_lock:
            modes_set[0] += 1 if was_default else -1


class _Mode:
    """A per-thread switch usable as a context manager or a decorator, bare or called.

    Each ``with`` block restores, on exit, the modes it found on entry.
    """

    _saved: list[tuple[bool, int]]

    def __new__(cls, fn: Any = None) -> Any:
        self = super().__new__(cls)
        self._saved = []  # one entry per open block, so one instance can nest and recurse
        return self if fn is None else self(fn)

    def _modes(self) -> tuple[bool, int]:
        raise NotImplementedError

    def __enter__(self) -> None:
        self._saved.append((state.grad_enabled, state.anomaly))
        _set_modes(*self._modes())

    def __exit__(self, *exc_info: object) -> None:
        _set_modes(*self._saved.pop())

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_Mode):
    """Ops record no graph in this thread while it is open (as ``torch.no_grad``).

    Also a decorator, bare (``@no_grad``) or called (``@no_grad()``). Transforms, ``gradients``
    and ``backward(create_graph=True)`` record what they need all the same.

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

    Called, it switches at once; used with ``with``, the previous mode comes back on exit.

    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    """

    _mode: bool

    def __new__(cls, mode: bool) -> Any:
        self = super().__new__(cls)
        self._mode = bool(mode)
        # As in torch, the call itself switches; the with block only restores on exit.
        self._saved.append((state.grad_enabled, state.anomaly))
        _set_modes(self._mode, state.anomaly)
        return self

    def _modes(self) -> tuple[bool, int]:
        return self._mode, state.anomaly

    def __enter__(self) -> None:
        pass  # the call has switched already; __exit__ restores what it found

    def __call__(self, fn: _F) -> _F:
        raise TypeError("set_grad_enabled is a context manager or a call, not a decorator")


class detect_anomaly(_Mode):
    """Raise ``FloatingPointError`` at the first op whose value or gradient is NaN or infinite.

    The message names the op and its inputs. Slower; for finding where a NaN comes from.
    """

    def _modes(self) -> tuple[bool, int]:
        return state.grad_enabled, state.anomaly + 1


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
