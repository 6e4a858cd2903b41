"""The recording of ops: each primitive of the table becomes a method of ``Value`` (and of
forward mode's ``Dual``) that computes the forward and records the node.

A node records its op, its inputs and their values, and its own value (see ``value.Value``);
``backward()`` multiplies the table's derivatives at those values. Every op method
(``x.exp()``, ``x + y``, ``x ** 2``) is made here from ``ops.PRIMITIVES`` at import time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from microgrsucc import backward as reverse
from microgrsucc import ops
from microgrsucc.core import call, is_real, modes_set, op_error, state, to_float
from microgrsucc.ops import Primitive
from microgrsucc.value import VALUE, Operand, Value, as_value

__all__ = ["VALUE", "install_ops", "recorder"]  # VALUE: value.VALUE, filled here

_new = object.__new__


# --- recording ops -------------------------------------------------------------------------------
# Each op becomes one function, made once per primitive (not per node), that computes the
# forward and records the node. _unary and _binary spell the node's fields out rather than
# share a helper: one Python call per op is the budget (a shared helper would cost about 6%
# of a training step).


def _after_op(out: Value) -> None:
    """The slow path of recording an op, taken only while some thread has a mode set."""
    if state.anomaly and not math.isfinite(out.data):
        raise FloatingPointError(f"{call(out._op, reverse.recorded(out))} produced {out.data}")  # type: ignore[arg-type]
    if not state.grad_enabled:  # a leaf that remembers it was computed, for backward()'s error
        out._xa = out._op
        out._op = out._a = out._b = out._xb = out._out = None


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
        out._out = data
        out._pending = 0
        if modes_set[0]:
            _after_op(out)
        return out

    return apply


def _binary(op: Primitive, cls: type[Value]) -> Callable[[Value, Operand], Value]:
    forward = op.forward
    deferred = op.name.isidentifier()  # a method; an operator defers by Python's protocol

    def apply(x: Value, y: Any) -> Value:
        if y.__class__ is not cls:
            if isinstance(y, cls) and y.owns_ops:
                # A Dual or a Tracer carries more than its value: its own method applies the
                # op. An operator hands it over by Python's protocol, which asks y's reflected
                # method first only if y's class derives from x's; x's may be a subclass of
                # Value too (a FlatParameter's view), and ``x += y`` calls x's method itself.
                if not deferred:
                    return NotImplemented  # type: ignore[no-any-return]
                return getattr(y.__class__, op.name)(x, y)  # type: ignore[no-any-return]
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
        out._out = data
        out._pending = 0
        if modes_set[0]:
            _after_op(out)
        return out

    return apply


def _nary(op: Primitive, cls: type[Value]) -> Callable[..., Value]:
    deferred = op.name.isidentifier()

    def apply(*inputs: Any) -> Value:
        if any(x.__class__ is not cls for x in inputs):
            # As _binary's second operand: a Dual or a Tracer applies the op itself, a number
            # becomes a leaf (x.clamp_min_max(0.0, hi)).
            owner = next(
                (x for x in inputs if x.__class__ is not cls and isinstance(x, cls) and x.owns_ops), None
            )
            if deferred and owner is not None:
                return getattr(owner.__class__, op.name)(*inputs)  # type: ignore[no-any-return]
            inputs = tuple(as_value(x) for x in inputs)
            if any(x is NotImplemented for x in inputs):
                return NotImplemented  # type: ignore[no-any-return]
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
        out._out = data
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

install_ops(Value, recorder)
vars(VALUE).update({name: getattr(Value, name) for name in ops.PRIMITIVES if name.isidentifier()})
