"""Running ``sample_loss`` once on Tracers (``trace.py``), with its parameters watched.

The graph is recorded whatever the caller's mode (``no_grad``), as the transforms do; a
``no_grad()`` inside the loss is the loss's own (``trace.Tracer`` refuses a per-sample op there).

A number read from a parameter by ``sample_loss`` (its ``.data``, ``float(w)``, a comparison,
``detach()``, an op under ``no_grad()``), or from a Value computed from parameters, becomes a
constant of the trace; each parameter it came from is recorded in ``Trace.guards`` with its
value, so ``compile`` traces again when one changes. Ops on parameters are not reads: their
results are part of the graph.
"""

from __future__ import annotations

import inspect
import reprlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from microgrsucc import ops
from microgrsucc.backward import below
from microgrsucc.compiler.trace import INPUT, OP, Trace, Tracer, record
from microgrsucc.core import enable_grad, modes_set, state
from microgrsucc.flat import ParameterView
from microgrsucc.functions import operands_of
from microgrsucc.ops import Primitive
from microgrsucc.recording import install_ops, recorder
from microgrsucc.value import Value

__all__ = ["trace"]


# One trace at a time in the process: the watched class of a parameter is seen by every
# thread, so a second trace begun meanwhile would find its parameters watched already, leave
# them, and lose its guards when the first trace puts their class back (its step would then
# keep a number read from .data after the parameter changed). Reentrant: a loss may call
# another compiled step, whose first call traces inside this one.
_TRACING = threading.RLock()


def trace(sample_loss: Callable[..., Any], params: Sequence[Value], nargs: int) -> Trace:
    """Call ``sample_loss`` once on Tracers and return the graph of its result."""
    with _TRACING:
        return _trace(sample_loss, params, nargs)


def _trace(sample_loss: Callable[..., Any], params: Sequence[Value], nargs: int) -> Trace:
    t = Trace(params, nargs)
    inputs = [t.node(INPUT, None, (), k) for k in range(nargs)]
    with enable_grad(), _watching(t, params):
        out = sample_loss(*inputs)
        if not isinstance(out, Value):
            raise TypeError(
                f"compile: sample_loss must return a Value, got {type(out).__name__}: {reprlib.repr(out)}"
            )
        root = t.operand(out)
    if t.kinds[root] != OP:
        # A loss that is a parameter (or an argument, or a constant) itself: one op above it,
        # exact for every float, gives the backends a node to start the gradient from.
        root = t.add(OP, ops.mul, (root, t.constant(1.0)), 0)
    t.root = root
    t.drop_values()
    return t


# While sample_loss runs, each parameter's class, and that of each Value computed from them,
# is a subclass whose ``data`` property records the read in the trace's guards. The ops of
# that subclass (and custom ops) compute with the value without recording a read.

_watch = threading.local()  # .trace: the trace being recorded; .inside: depth of op calls;
# .derived: the Values computed from parameters, watched until the trace ends


def _reader(plain: Any) -> Callable[[Value], float]:
    """A ``data`` getter over ``plain`` (the class's own descriptor: the slot, or a
    FlatParameter view's property) that records the read in the trace's guards."""

    def read(v: Value) -> float:
        x: float = plain.__get__(v, Value)
        if not getattr(_watch, "inside", 0):  # an op computing with the value is not a read
            t = getattr(_watch, "trace", None)
            if t is not None:
                j = t.param_position(v)
                if j is not None:
                    t.guards.setdefault(j, x)
                elif not v.is_leaf:  # (w * 2).data: a read of every parameter below it
                    for node in below(v):
                        if node is not v and t.param_position(node) is not None:
                            node.data  # noqa: B018  # the parameter's own read records it
        return x

    return read


def _quiet(op: Primitive) -> Callable[..., Any]:
    """``op`` applied to a watched parameter: computing with its value is not a read."""
    apply = recorder(op)
    traced = record(op)

    def run(*operands: Any) -> Any:  # once per op on a parameter: a plain loop
        if getattr(_watch, "trace", None) is None:  # another thread's op while one traces
            return apply(*operands)
        for x in operands:
            if x.__class__ is Tracer:
                return traced(*operands)
        if modes_set[0] and not state.grad_enabled:  # a constant made from .data: a guarded read
            return apply(*operands)
        _watch.inside = getattr(_watch, "inside", 0) + 1
        try:
            out = apply(*operands)
        finally:
            _watch.inside -= 1
        if out.__class__ is Value:  # computed from parameters: a later read of it is guarded
            out.__class__ = _watched_class(Value)
            _watch.derived.append(out)
        return out

    return run


def _quiet_custom(op: Primitive, *operands: Any) -> Any:
    """A custom op (``CustomOp`` looks for ``apply_op``) of a watched parameter."""
    if any(isinstance(x, Tracer) for x in operands):
        return record(op)(*operands)
    return _quiet(op)(*operands_of(op, operands))


_watched_classes: dict[type, type] = {}


def _watched_class(cls: type) -> type:
    made = _watched_classes.get(cls)
    if made is None:
        plain = inspect.getattr_static(cls, "data")
        watched = property(_reader(plain), plain.__set__)
        made = type(f"Watched{cls.__name__}", (cls,), {"__slots__": (), "data": watched, "pickled_as": cls})
        install_ops(made, _quiet)
        made.apply_op = staticmethod(_quiet_custom)  # type: ignore[attr-defined]
        _watched_classes[cls] = made
    return made


class _watching:
    """While open, the parameters' ``.data`` reads are recorded in ``trace.guards``."""

    def __init__(self, trace: Trace, params: Sequence[Value]) -> None:
        self.trace, self.params = trace, params
        self.saved: list[tuple[Value, type]] = []

    def __enter__(self) -> None:
        state.compiling += 1
        self.outer = getattr(_watch, "trace", None), getattr(_watch, "derived", None)
        _watch.trace, _watch.derived = self.trace, []
        for p in self.params:
            cls = p.__class__
            if cls is Value or cls is ParameterView:  # a Dual keeps its class, unwatched
                self.saved.append((p, cls))
                p.__class__ = _watched_class(cls)

    def __exit__(self, *exc_info: object) -> None:
        for p, cls in self.saved:
            p.__class__ = cls
        for v in _watch.derived:
            v.__class__ = Value
        _watch.trace, _watch.derived = self.outer
        state.compiling -= 1
