"""``Value``, the node of a computation graph, and the recording of ops.

Applying an op records a node that points at the ``Primitive`` (``microgrsucc/ops/``), at its inputs
and at their values; ``backward()`` hands the graph to ``backward.py``. Every op method
(``x.exp()``, ``x + y``, ``x ** 2``) is made here from ``ops.PRIMITIVES`` at import time.

Nodes are cheap on purpose: ``__slots__``, no per-node closure and no reference back from an
input to its output, so a graph that is dropped is freed at once by reference counting.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, SupportsFloat, Union

from microgrsucc import backward as reverse
from microgrsucc import ops, pickling
from microgrsucc.core import call, check_label, enable_grad, is_real, modes_set, op_error, state, to_float
from microgrsucc.ops import Primitive

if TYPE_CHECKING:
    from microgrsucc.declarations import OpMethods
else:
    OpMethods = object  # the methods themselves are made by install_ops() below

__all__ = ["VALUE", "Operand", "Value", "as_value", "install_ops", "recorder"]

Operand = Union["Value", SupportsFloat]  # a Value or a real number (int, float, Fraction, numpy scalar)

_new = object.__new__


class Value(OpMethods):
    """A scalar node of a computation graph.

    ``data`` is the node's value (always a float); after ``root.backward()``, ``grad`` is
    d(root)/d(this node). Before that, ``grad`` is None (no gradient yet), as in PyTorch.

    >>> x = Value(3.0, label="x")
    >>> y = x * x + 1
    >>> y.backward()
    >>> y.data, x.grad
    (10.0, 6.0)
    """

    __slots__ = ("data", "grad", "label", "_op", "_a", "_b", "_xa", "_xb", "_pending")
    # Lets numpy scalars on the left defer to our reflected operators (np.float64(2) * v).
    __array_ufunc__ = None

    data: float
    grad: Any  # None until a backward() reaches it; a float, or a Value after create_graph=True
    label: str | None
    _op: Primitive | None  # None for a leaf
    _a: Any  # first input; for ops of three or more inputs, the tuple of all inputs
    _b: Any  # second input of a binary op, else None
    # The inputs' values when the op ran: backward() differentiates at these, so a leaf
    # changed since (an optimizer step) cannot mix two states in one gradient.
    _xa: Any  # the first input's value; for ops of three or more inputs, all of them
    _xb: Any  # the second input's value of a binary op, else None
    _pending: int  # during backward(): consumer edges whose gradient has not arrived yet

    def __init__(self, data: SupportsFloat, label: str | None = None) -> None:
        self.data = to_float(data, "Value")
        self.grad = None
        self.label = check_label(label)
        self._op = self._a = self._b = self._xa = self._xb = None
        self._pending = 0

    # --- inspection ----------------------------------------------------------------------------

    @property
    def primitive(self) -> Primitive | None:
        """The table's entry (``ops.Primitive``) that produced this node, or None for a leaf."""
        return self._op

    @property
    def op(self) -> str | None:
        """The name of the op that produced this node (``"*"``, ``"tanh"``, ...), or None for a leaf."""
        return None if self._op is None else self._op.name

    @property
    def inputs(self) -> tuple[Value, ...]:
        """The nodes this one was computed from, in operand order (empty for a leaf)."""
        op = self._op
        if op is None or op.arity > 2:
            return () if op is None else tuple(self._a)
        return (self._a,) if op.arity == 1 else (self._a, self._b)

    @property
    def is_leaf(self) -> bool:
        """True for nodes no op produced: inputs, parameters, constants, detached values."""
        return self._op is None

    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(input) for each input, at the recorded values, from the op table.

        Empty for a leaf. These are the factors the chain rule multiplies along each edge.

        >>> x, y = Value(2.0), Value(5.0)
        >>> (x * y).local_grads()
        (5.0, 2.0)
        """
        return reverse.local_grads(self)

    def __repr__(self) -> str:
        label = "" if self.label is None else f", label={self.label!r}"
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    # --- conversions: inside a transform a float would cut the value from the graph and lose
    # its derivative without a word (math.sin(x)), so it is refused, as JAX refuses to turn a
    # tracer into a number. Reading .data is the way to say a constant is meant.

    def item(self) -> float:
        """The plain float value, as ``torch.Tensor.item()``."""
        if state.traced:
            _refuse_concrete(self, "item()")
        return self.data

    def __float__(self) -> float:
        if state.traced:
            _refuse_concrete(self, "float()")
        return self.data

    def __int__(self) -> int:
        if state.traced:
            _refuse_concrete(self, "int()")
        return int(self.data)

    def __round__(self, ndigits: int | None = None) -> float | int:
        if state.traced:
            _refuse_concrete(self, "round()")
        return round(self.data, ndigits)

    def __bool__(self) -> bool:  # data != 0, as bool(tensor): `if loss:` is false for a zero loss
        return bool(self.data)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats ``.data``; an empty spec gives the repr."""
        return format(self.data, spec) if spec else repr(self)

    # Comparisons give plain bools, as in PyTorch: they branch, they are not differentiable.
    # == and hash stay by identity, so Values are dict and set keys.

    def __lt__(self, other: Operand) -> bool:
        return _compare(operator.lt, self, other)

    def __le__(self, other: Operand) -> bool:
        return _compare(operator.le, self, other)

    def __gt__(self, other: Operand) -> bool:
        return _compare(operator.gt, self, other)

    def __ge__(self, other: Operand) -> bool:
        return _compare(operator.ge, self, other)

    def __pos__(self) -> Value:
        return self

    # --- pickling: iterative, so a graph of any depth pickles at the default recursion limit
    def __reduce__(self) -> tuple[Any, ...]:
        return pickling.reduce(self)

    def __setstate__(self, saved: dict[str, Any]) -> None:
        pickling.set_state(self, saved)

    # --- gradients
    def detach(self) -> Value:
        """A new leaf with the same value, cut from the graph (as ``torch.Tensor.detach``)."""
        return _leaf(self.data)

    def backward(
        self, gradient: Any = 1.0, *, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Set every node's ``grad`` below this one to d(self)/d(node), times ``gradient``.

        Leaf gradients accumulate across calls, as in PyTorch, until zeroed (``zero_grad``);
        interior ones hold the latest pass. Derivatives are taken at the values the forward
        pass saw, so a leaf changed since (an optimizer step) mixes no two states. With
        ``create_graph=True`` the gradients are Values with graphs (recorded even inside
        ``no_grad()``). ``retain_graph`` is accepted and ignored: graphs are always kept.
        """
        if not isinstance(gradient, Value):
            gradient = to_float(gradient, "backward(gradient)")
        if self._op is None:
            self.grad = gradient if self.grad is None else self.grad + gradient
            return
        try:
            reverse.count_consumers(self)
            self.grad = gradient
            if create_graph:
                with enable_grad():
                    reverse.propagate(self, VALUE, bool(state.anomaly))
            else:
                reverse.propagate(self, ops.FLOAT, bool(modes_set[0] and state.anomaly))
        except BaseException:
            for node in reverse.below(self):  # leave no half-counted node behind for the next pass
                node._pending = 0
            raise


def _compare(test: Callable[[float, float], bool], v: Value, other: object) -> bool:
    o = other.data if isinstance(other, Value) else other if is_real(other) else NotImplemented
    return NotImplemented if o is NotImplemented else bool(test(v.data, o))  # type: ignore[arg-type]


def _refuse_concrete(v: Value, how: str) -> None:
    """TypeError for a Value that depends on a transform's input being made a number."""
    traced = set(state.traced)
    if any(node in traced for node in reverse.below(v)):
        raise TypeError(
            f"{how} of a Value that depends on the input of grad/value_and_grad/hessian/jvp "
            f"(data={v.data!r}) would cut it from the graph and lose its derivative; use "
            "the Value ops instead (microgrsucc.sin(x) or x.sin() for math.sin(x)), or "
            "read .data where a constant is meant"
        )


# --- recording ops -----------------------------------------------------------------------------
# Each op becomes one function, made once per primitive (not per node), that computes the
# forward and records the node. _unary and _binary spell the node's fields out rather than
# share a helper: one Python call per op is the budget (a shared helper would cost about 6%
# of a training step).


def _leaf(data: float, origin: Any = None) -> Value:
    out: Value = _new(Value)
    out.data = data
    out.grad = None
    out.label = None
    out._op = out._a = out._b = out._xb = None
    out._xa = origin  # as_value for a leaf made from a plain number: explain.is_constant reads it
    out._pending = 0
    return out


def as_value(x: object, where: str | None = None) -> Any:
    """A Value as it is, a number as a new leaf; else TypeError naming where, or NotImplemented."""
    if isinstance(x, Value):
        return x
    if where is None and not is_real(x):
        return NotImplemented
    return _leaf(to_float(x, where or "operand"), as_value)


def _after_op(out: Value) -> None:
    """The slow path of recording an op, taken only while some thread has a mode set."""
    if state.anomaly and not math.isfinite(out.data):
        raise FloatingPointError(f"{call(out._op, reverse.recorded(out))} produced {out.data}")  # type: ignore[arg-type]
    if not state.grad_enabled:
        out._op = out._a = out._b = out._xa = out._xb = None


def _unary(op: Primitive, cls: type[Value]) -> Callable[[Value], Value]:
    forward = op.forward

    def apply(x: Value) -> Value:
        xd = x.data
        try:
            data = forward(xd)
        except (ArithmeticError, ValueError) as err:
            raise op_error(op, err, xd) from None
        out: Value = _new(cls)
        out.data = data
        out.grad = None
        out.label = None
        out._op = op
        out._a = x
        out._b = None
        out._xa = xd
        out._xb = None
        out._pending = 0
        if modes_set[0]:
            _after_op(out)
        return out

    return apply


def _binary(op: Primitive, cls: type[Value]) -> Callable[[Value, Operand], Value]:
    forward = op.forward

    def apply(x: Value, y: Any) -> Value:
        if y.__class__ is not cls:
            y = as_value(y)
            if y is NotImplemented:
                return NotImplemented  # type: ignore[no-any-return]  # Python then raises TypeError
        xd = x.data
        yd = y.data
        try:
            data = forward(xd, yd)
        except (ArithmeticError, ValueError) as err:
            raise op_error(op, err, xd, yd) from None
        out: Value = _new(cls)
        out.data = data
        out.grad = None
        out.label = None
        out._op = op
        out._a = x
        out._b = y
        out._xa = xd
        out._xb = yd
        out._pending = 0
        if modes_set[0]:
            _after_op(out)
        return out

    return apply


def _nary(op: Primitive, cls: type[Value]) -> Callable[..., Value]:
    def apply(*inputs: Value) -> Value:
        values = tuple(x.data for x in inputs)
        try:
            data = op.forward(*values)
        except (ArithmeticError, ValueError) as err:
            raise op_error(op, err, *values) from None
        out: Value = _new(cls)
        out.data = data
        out.grad = None
        out.label = None
        out._b = out._xb = None
        out._pending = 0
        out._op = op
        out._a = inputs
        out._xa = values
        if modes_set[0]:
            _after_op(out)
        return out

    return apply


# --- the ops, from the table -------------------------------------------------------------------


def install_ops(cls: type, make: Callable[[Primitive], Callable[..., Any]]) -> None:
    """Give ``cls`` a method per primitive, plus its operator: ``cls`` is Value, or Dual.

    ``make(op)`` returns the function applying ``op`` to an instance and an operand. A
    primitive named like an identifier is a method of that name; one with an ``operator``
    (``"add"``) is also ``__add__`` and, for two inputs, ``__radd__``. ``**`` is the one
    rule for powers, here for Value and Dual, and through them for the command line: a
    constant exponent is part of a unary op (``ops.pow_const``), so no gradient is owed
    to it; a Value exponent is the second input of ``ops.pow``.
    """
    for op in ops.PRIMITIVES.values():
        if op is ops.pow:
            continue
        apply = make(op)
        if op.name.isidentifier():
            setattr(cls, op.name, op.method(apply, make) if isinstance(op, ops.Parametric) else apply)
        if op.operator:
            setattr(cls, f"__{op.operator}__", apply)
            if op.arity == 2:
                setattr(cls, f"__r{op.operator}__", _reflected(apply))
    by_node = make(ops.pow)
    by_constant = functools.lru_cache(maxsize=256)(lambda n: make(ops.pow_const(n)))

    def __pow__(self: Any, other: Any) -> Any:
        if isinstance(other, Value):
            return by_node(self, other)
        if not is_real(other):
            return NotImplemented
        return by_constant(to_float(other, "**"))(self)

    setattr(cls, "__pow__", __pow__)  # noqa: B010
    setattr(cls, "__rpow__", _reflected(by_node))  # noqa: B010


def _reflected(apply: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    """``other OP self``: the other operand, made a leaf, goes on the left."""

    def rapply(self: Any, other: Any) -> Any:
        left = as_value(other)
        return left if left is NotImplemented else apply(left, self)

    return rapply


def recorder(op: Primitive, cls: type[Value] | None = None) -> Callable[..., Value]:
    """The function that applies ``op`` to Values (the second operand of a binary op may be a
    number) and records the node, an instance of ``cls`` (a Value by default; forward mode's
    Dual adds its tangent to it). One per primitive, made once, not per node."""
    cls = cls or Value
    return _unary(op, cls) if op.arity == 1 else _binary(op, cls) if op.arity == 2 else _nary(op, cls)


install_ops(Value, recorder)

# The Value counterpart of ops.FLOAT: derivatives evaluated with it record a graph.
VALUE = SimpleNamespace(
    **{name: getattr(Value, name) for name in ops.PRIMITIVES if name.isidentifier()},
    value=lambda v: v.data if isinstance(v, Value) else v,  # constants of an op stay numbers
)
