"""Recording one sample's graph: ``Tracer`` values stand for the sample's arguments.

A ``Tracer`` is a Value with no number inside: its ops (made from the table by
``install_ops``, as for ``Dual``) append a node to the ``Trace`` instead of computing.
Parameters become the trace's ``param`` nodes, other Values and numbers constants, and a
Value graph met along the way (a penalty built from the parameters) is copied in node by
node. Anything that would turn a traced value into a number — ``.data``, ``float()``,
``math.sin``, ``<`` — raises a ``TypeError`` naming the value: a Python branch on it
would be replayed the same way for every sample, which would be wrong.

A parameter's ``.data`` read by ``sample_loss`` (a constant written from its value, or a
Python branch on it) is recorded in ``Trace.guards``: the trace holds only while every
such parameter keeps the value it had, and ``compile`` traces again when one changes.
The trace records its graph whatever the caller's mode (``no_grad``), as the transforms do.
"""

from __future__ import annotations

import inspect
import reprlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from microgrsucc import ops
from microgrsucc.backward import postorder
from microgrsucc.core import enable_grad, is_real, state, to_float
from microgrsucc.flat import ParameterView
from microgrsucc.functions import operands_of
from microgrsucc.ops import Primitive
from microgrsucc.recording import install_ops, recorder
from microgrsucc.value import Value

__all__ = ["CONST", "INPUT", "OP", "PARAM", "Trace", "Tracer", "trace", "primitive_of"]

INPUT, PARAM, CONST, OP = "input", "param", "const", "op"

_HOW = (
    "a Python branch on it would be replayed the same way for every sample; write the "
    "branch as an op (x.relu(), abs(x), or a microgrsucc.custom_op), or read only "
    "constants and parameters' .data"
)


def primitive_of(v: Value) -> Primitive | None:
    """The primitive that made ``v`` (None for a leaf)."""
    return v.primitive


class Trace:
    """One sample's graph as lists: node i is ``kinds[i]`` with ``ops[i]``, ``args[i]``, ``payload[i]``.

    ``payload`` is the argument or parameter position, or a constant's value. Nodes are in
    the order they were made, so each comes after its inputs.
    """

    def __init__(self, params: Sequence[Value], nargs: int) -> None:
        self.kinds: list[str] = []
        self.ops: list[Primitive | None] = []
        self.args: list[tuple[int, ...]] = []
        self.payload: list[float | int] = []
        self.root = -1
        self.nargs = nargs
        self.param_count = len(params)
        self._param_index = {id(p): j for j, p in enumerate(params)}
        self._params = list(params)  # keeps the ids above alive
        self._imported: dict[int, int] = {}
        self._constants: dict[object, int] = {}
        self._keep: list[Value] = []  # keeps the ids in _imported alive
        # Parameter position -> the value sample_loss read from its .data: the trace holds
        # only while each still has that value.
        self.guards: dict[int, float] = {}

    def add(self, kind: str, op: Primitive | None, args: tuple[int, ...], payload: float | int) -> int:
        self.kinds.append(kind)
        self.ops.append(op)
        self.args.append(args)
        self.payload.append(payload)
        return len(self.kinds) - 1

    def constant(self, x: float) -> int:
        key = x if x == x else "nan"  # one node per value; NaN is not equal to itself
        index = self._constants.get(key)
        if index is None or repr(self.payload[index]) != repr(x):  # keep 0.0 and -0.0 apart
            index = self.add(CONST, None, (), x)
            self._constants[key] = index
        return index

    def operand(self, x: Any) -> int:
        """The node of an operand: a Tracer of this trace, a Value (copied in), or a number."""
        if isinstance(x, Tracer):
            if x.trace is not self:
                raise TypeError("a traced value of another compile() reached this one")
            return x.index
        if isinstance(x, Value):
            return self.value(x)
        return self.constant(to_float(x, "compile"))

    def value(self, v: Value) -> int:
        """Copy a Value and its graph in: parameters as themselves, other leaves as constants."""
        known = self._imported.get(id(v))
        if known is not None:
            return known
        if id(v) in self._param_index:
            return self._leaf(v)
        if primitive_of(v) is None:
            return self._leaf(v)
        for node in postorder(v):
            if id(node) in self._imported:
                continue
            op = primitive_of(node)
            args = tuple(
                self._leaf(x) if primitive_of(x) is None else self._imported[id(x)] for x in node.inputs
            )
            self._imported[id(node)] = self.add(OP, op, args, 0)
            self._keep.append(node)
        return self._imported[id(v)]

    def param_position(self, v: Value) -> int | None:
        return self._param_index.get(id(v))

    def _leaf(self, v: Value) -> int:
        known = self._imported.get(id(v))
        if known is None:
            j = self._param_index.get(id(v))
            known = self.constant(v.data) if j is None else self.add(PARAM, None, (), j)
            self._imported[id(v)] = known
            self._keep.append(v)
        return known

    def describe(self, i: int) -> str:
        kind = self.kinds[i]
        if kind == INPUT:
            return f"sample argument {self.payload[i]}"
        op = self.ops[i]
        return f"the result of {op.name if op else kind} (traced node {i})"

    def used_primitives(self) -> list[Primitive]:
        return list({id(op): op for op in self.ops if op is not None}.values())

    def holds(self, params: Sequence[Value]) -> bool:
        """True while every parameter whose ``.data`` the trace read still has that value."""
        for j, x in self.guards.items():
            y = params[j].data
            if not (x == y or (x != x and y != y)):
                return False
        return True


class Tracer(Value):
    """A traced value: a node of a ``Trace``, with no number inside."""

    __slots__ = ("trace", "index")
    owns_ops = True  # c.maximum(x) records a node of the trace

    trace: Trace
    index: int

    @property
    def data(self) -> float:  # type: ignore[override]
        self._refuse("read .data of")

    def _refuse(self, how: str) -> NoReturn:
        raise TypeError(
            f"compile: sample_loss {how} {self.trace.describe(self.index)}, whose value differs "
            f"per sample; {_HOW}"
        )

    def __repr__(self) -> str:
        return f"<traced {self.trace.describe(self.index)}>"

    def item(self) -> float:
        self._refuse("called item() on")

    def __float__(self) -> float:
        self._refuse("called float() (or a math function) on")

    def __int__(self) -> int:
        self._refuse("called int() on")

    def __round__(self, ndigits: int | None = None) -> float:
        self._refuse("called round() on")

    def __format__(self, spec: str) -> str:
        if not spec:
            return repr(self)
        self._refuse("formatted")

    def __bool__(self) -> bool:
        self._refuse("tested the truth of")

    def __lt__(self, other: Any) -> bool:
        self._refuse("compared (<)")

    def __le__(self, other: Any) -> bool:
        self._refuse("compared (<=)")

    def __gt__(self, other: Any) -> bool:
        self._refuse("compared (>)")

    def __ge__(self, other: Any) -> bool:
        self._refuse("compared (>=)")

    def detach(self) -> Value:
        self._refuse("called detach() on")

    def backward(self, gradient: Any = 1.0, **kwargs: Any) -> None:
        self._refuse("called backward() on")

    @staticmethod
    def apply_op(op: Primitive, *operands: Any) -> Any:
        """Apply a custom op to traced values (``CustomOp`` looks for this hook)."""
        return _record(op)(*operands)


def _new_tracer(trace: Trace, index: int) -> Tracer:
    t: Tracer = object.__new__(Tracer)
    t.trace, t.index = trace, index
    t.grad = None
    t.label = None
    t._op = t._a = t._b = t._xa = t._xb = None
    t._pending = 0
    return t


def _record(op: Primitive) -> Callable[..., Any]:
    def apply(*operands: Any) -> Any:
        if len(operands) != op.arity:
            raise TypeError(f"{op.name} takes {op.arity} operand(s), got {len(operands)}")
        trace = next(x.trace for x in operands if isinstance(x, Tracer))
        for x in operands:
            if not isinstance(x, Value) and not is_real(x):
                return NotImplemented
        args = tuple(trace.operand(x) for x in operands)
        return _new_tracer(trace, trace.add(OP, op, args, 0))

    return apply


install_ops(Tracer, _record)


def trace(sample_loss: Callable[..., Any], params: Sequence[Value], nargs: int) -> Trace:
    """Call ``sample_loss`` once on Tracers and return the graph of its result."""
    t = Trace(params, nargs)
    inputs = [_new_tracer(t, t.add(INPUT, None, (), k)) for k in range(nargs)]
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
        root = t.add(OP, _MUL, (root, t.constant(1.0)), 0)
    t.root = root
    return t


# --- reading a parameter's .data during the trace --------------------------------------------
# While sample_loss runs, each parameter's class is a subclass whose ``data`` property records
# the read in the trace's guards. The ops of that subclass (and custom ops) compute with the
# parameter's value without recording a read: their result is part of the graph, not a constant.

_MUL = ops.mul
_watch = threading.local()  # .trace: the trace being recorded; .inside: depth of op calls


def _reader(plain: Any) -> Callable[[Value], float]:
    """A ``data`` getter over ``plain`` (the class's own descriptor: the slot, or a
    FlatParameter view's property) that records the read in the trace's guards."""

    def read(v: Value) -> float:
        x: float = plain.__get__(v, Value)
        t = getattr(_watch, "trace", None)
        if t is not None and not getattr(_watch, "inside", 0):
            j = t.param_position(v)
            if j is not None:
                t.guards.setdefault(j, x)
        return x

    return read


def _quiet(op: Primitive) -> Callable[..., Any]:
    """``op`` applied to a watched parameter: computing with its value is not a read."""
    apply = recorder(op)
    traced = _record(op)

    def run(*operands: Any) -> Any:
        if any(isinstance(x, Tracer) for x in operands):
            return traced(*operands)
        _watch.inside = getattr(_watch, "inside", 0) + 1
        try:
            return apply(*operands)
        finally:
            _watch.inside -= 1

    return run


def _quiet_custom(op: Primitive, *operands: Any) -> Any:
    """A custom op (``CustomOp`` looks for ``apply_op``) of a watched parameter."""
    if any(isinstance(x, Tracer) for x in operands):
        return _record(op)(*operands)
    return _quiet(op)(*operands_of(op, operands))


_watched_classes: dict[type, type] = {}


def _watched_class(cls: type) -> type:
    made = _watched_classes.get(cls)
    if made is None:
        plain = inspect.getattr_static(cls, "data")
        watched = property(_reader(plain), plain.__set__)
        made = type(f"Watched{cls.__name__}", (cls,), {"__slots__": (), "data": watched})
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
        self.outer = getattr(_watch, "trace", None)
        _watch.trace = self.trace
        for p in self.params:
            cls = p.__class__
            if cls is Value or cls is ParameterView:  # a Dual keeps its class, unwatched
                self.saved.append((p, cls))
                p.__class__ = _watched_class(cls)

    def __exit__(self, *exc_info: object) -> None:
        for p, cls in self.saved:
            p.__class__ = cls
        _watch.trace = self.outer
        state.compiling -= 1
