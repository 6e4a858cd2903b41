"""Recording one sample's graph: ``Tracer`` values stand for the sample's arguments.

A ``Tracer`` is a Value with no number inside: its ops (made from the table by
``install_ops``, as for ``Dual``) append a node to the ``Trace`` instead of computing.
Parameters become the trace's ``param`` nodes, other Values and numbers constants, and a
Value graph met along the way (a penalty built from the parameters) is copied in node by
node. Anything that would turn a traced value into a number — ``.data``, ``float()``,
``math.sin``, ``<`` — raises a ``TypeError`` naming the value: a Python branch on it
would be replayed the same way for every sample, which would be wrong.

``Trace.guards`` holds the parameters whose ``.data`` ``sample_loss`` read, with the values
read, and ``Trace.leaves`` the Values that are not parameters and became constants, with
their values then: the trace holds only while each keeps its value (``tracing.py`` runs the
loss and records the reads). A Value outside the parameters may still change between calls
(a target network, a frozen layer loaded again), and eager mode would use its new value.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from microgrsucc.core import is_real, modes_set, state, to_float
from microgrsucc.ops import Primitive
from microgrsucc.recording import install_ops
from microgrsucc.value import Value

__all__ = ["CONST", "INPUT", "OP", "PARAM", "Trace", "Tracer", "primitive_of", "record"]

INPUT, PARAM, CONST, OP = "input", "param", "const", "op"

_HOW = (
    "a Python branch on it would be replayed the same way for every sample; write the "
    "branch as an op (x.relu(), abs(x), or a microgrsucc.custom_op), or read only "
    "constants and parameters' .data"
)
_NO_GRAD = (
    "under no_grad() (or set_grad_enabled(False)) eager mode cuts that result from the graph, "
    "which a compiled step cannot replay: compute it with recording on, or use the eager engine"
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
        # Values are keys by identity (they define no __eq__), which also keeps them alive.
        self._param_index = {p: j for j, p in enumerate(params)}
        self._imported: dict[Value, int] = {}
        self._constants: dict[object, int] = {}
        # Parameter position -> the value sample_loss read from its .data: the trace holds
        # only while each still has that value.
        self.guards: dict[int, float] = {}
        # The leaves met that are not parameters, and their values: constants of the trace
        # that eager mode would read again at each call.
        self.leaves: list[Value] = []
        self.leaf_values: list[float] = []
        self._reaching: list[bool] | None = None

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
        imported = self._imported
        known = imported.get(v)
        if known is not None:
            return known
        if v._op is None:
            return self._leaf(v)
        # The interior nodes not imported yet, each after its inputs, as backward.postorder orders
        # them (a node's inputs in operand order), with the copying done on the way: a penalty is
        # a graph as large as the model, so the nodes' fields are read directly (as backward.py).
        stack = [v]
        while stack:
            node = stack[-1]
            if node in imported:
                stack.pop()
                continue
            op = node._op
            arity = op.arity  # type: ignore[union-attr]  # only interior nodes are pushed
            inputs = (node._a,) if arity == 1 else (node._a, node._b) if arity == 2 else tuple(node._a)
            waiting = False
            for x in reversed(inputs):  # its interior inputs not imported yet go first
                if x._op is not None and x not in imported:
                    stack.append(x)
                    waiting = True
            if waiting:  # the node is copied when it is on top again
                continue
            stack.pop()
            args = []  # its interior inputs are imported by now; a leaf may not be yet
            for x in inputs:
                j = imported.get(x)
                args.append(self._leaf(x) if j is None else j)
            imported[node] = self.add(OP, op, tuple(args), 0)
        return imported[v]

    def param_position(self, v: Value) -> int | None:
        return self._param_index.get(v)

    def drop_values(self) -> None:
        """Forget the Values met while recording: a penalty's whole graph, as large as the
        model, would otherwise live as long as the compiled step, for the collector to walk."""
        self._imported, self._param_index, self._constants = {}, {}, {}

    def _leaf(self, v: Value) -> int:
        """The node of a leaf not imported yet: a parameter, or its value as a constant."""
        j = self._param_index.get(v)
        if j is None:
            x = v.data
            self.leaves.append(v)
            self.leaf_values.append(x)
            known = self.constant(x)
        else:
            known = self.add(PARAM, None, (), j)
        self._imported[v] = known
        return known

    def node(self, kind: str, op: Primitive | None, args: tuple[int, ...], payload: float | int) -> Tracer:
        """``add`` a node and return its Tracer. Once per traced op (tens of thousands for a
        wide model): the appends and the Tracer's fields spelled out, no further call."""
        index = len(self.kinds)
        self.kinds.append(kind)
        self.ops.append(op)
        self.args.append(args)
        self.payload.append(payload)
        t: Tracer = object.__new__(Tracer)
        t.trace, t.index = self, index
        t.grad = t.label = t._op = t._a = t._b = t._xa = t._xb = None
        t._pending = 0
        return t

    def reaching(self) -> list[bool]:
        """For each node, whether the root depends on it. Worked out once, for a finished trace:
        the compiler and the backends that group nodes into layers all ask."""
        if self._reaching is None:
            args = self.args
            needed = [False] * len(args)
            needed[self.root] = True
            for i in range(len(args) - 1, -1, -1):  # nodes come after their inputs
                if needed[i]:
                    for j in args[i]:
                        needed[j] = True
            self._reaching = needed
        return self._reaching

    def describe(self, i: int) -> str:
        kind = self.kinds[i]
        if kind == INPUT:
            return f"sample argument {self.payload[i]}"
        op = self.ops[i]
        return f"the result of {op.name if op else kind} (traced node {i})"

    def used_primitives(self) -> list[Primitive]:
        # In order of first use, one pass in C (a Primitive hashes by identity).
        return [op for op in dict.fromkeys(self.ops) if op is not None]

    def holds(self, params: Sequence[Value]) -> bool:
        """True while every parameter whose ``.data`` the trace read, and every Value made a
        constant, has that value (-0.0 too)."""
        if self.leaves:
            # Loops in C: a plain Value unchanged gives the very float it gave (NaN too); a
            # view gives a new float each time, which must be equal and of the same sign.
            saved, now = self.leaf_values, list(map(_DATA, self.leaves))
            if not all(map(operator.is_, now, saved)):
                ones = [1.0] * len(now)
                signs = list(map(math.copysign, ones, now)), list(map(math.copysign, ones, saved))
                if now != saved or signs[0] != signs[1]:
                    return False
        if not self.guards:  # the common case, without making a generator at each call
            return True
        return all(_same(x, params[j].data) for j, x in self.guards.items())


_DATA = operator.attrgetter("data")


def _same(x: float, y: float) -> bool:
    """``x`` and ``y`` are the same number: -0.0 is not 0.0, a NaN is a NaN."""
    return (x == y and (x != 0.0 or repr(x) == repr(y))) or (x != x and y != y)


class Tracer(Value):
    """A traced value: a node of a ``Trace``, with no number inside."""

    __slots__ = ("trace", "index")
    owns_ops = True  # c.maximum(x) records a node of the trace

    trace: Trace
    index: int

    @property
    def data(self) -> float:  # type: ignore[override]
        self._refuse("read .data of")

    def _refuse(self, how: str, why: str = _HOW) -> NoReturn:
        raise TypeError(
            f"compile: sample_loss {how} {self.trace.describe(self.index)}, whose value differs "
            f"per sample; {why}"
        )

    def __repr__(self) -> str:
        return f"<traced {self.trace.describe(self.index)}>"

    def item(self) -> float:
        self._refuse("called item() on")

    def __float__(self) -> float:
        # The losses take their targets as plain numbers: float(t) of a sample argument is
        # the common way to meet this in a loss that branches on nothing.
        target = "; a loss's target (hinge_loss, binary_cross_entropy) is read as a number: give a constant"
        self._refuse("called float() (or a math function) on", _HOW + target)

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

    def detach(self) -> Value:
        self._refuse("called detach() on")

    def backward(self, gradient: Any = 1.0, **kwargs: Any) -> None:
        self._refuse("called backward() on")

    @staticmethod
    def apply_op(op: Primitive, *operands: Any) -> Any:
        """Apply a custom op to traced values (``CustomOp`` looks for this hook)."""
        return record(op)(*operands)


def record(op: Primitive) -> Callable[..., Any]:
    arity = op.arity

    # Once per scalar op of sample_loss (tens of thousands for a wide model): two Tracers of one
    # trace (s + t), or a Value and a Tracer (w * x), go straight to their node; otherwise plain
    # loops, a Tracer of this trace taken as is (checked by its class, not isinstance).
    def apply(*operands: Any) -> Any:
        if modes_set[0] and not state.grad_enabled:  # eager mode would cut the result from the graph
            next(x for x in operands if x.__class__ is Tracer)._refuse(f"applied {op.name} to", _NO_GRAD)
        if len(operands) == 2 == arity:
            x, y = operands
            if y.__class__ is Tracer:
                t = y.trace
                if x.__class__ is Tracer and x.trace is t:
                    return t.node(OP, op, (x.index, y.index), 0)
                if isinstance(x, Value):
                    return t.node(OP, op, (t.operand(x), y.index), 0)
        elif len(operands) != arity:
            raise TypeError(f"{op.name} takes {arity} operand(s), got {len(operands)}")
        trace: Trace | None = None
        for x in operands:
            if x.__class__ is Tracer:
                if trace is None:
                    trace = x.trace
            elif not isinstance(x, Value) and not is_real(x):
                return NotImplemented
        assert trace is not None, "a Tracer's op has a Tracer operand"
        args = []
        for x in operands:
            args.append(x.index if x.__class__ is Tracer and x.trace is trace else trace.operand(x))
        return trace.node(OP, op, tuple(args), 0)

    return apply


install_ops(Tracer, record)
for _name, _symbol in (("__lt__", "<"), ("__le__", "<="), ("__gt__", ">"), ("__ge__", ">=")):
    setattr(Tracer, _name, lambda self, other, how=f"compared ({_symbol})": self._refuse(how))
