"""Module-level elementary functions: ``microgrsucc.exp(x)`` and friends.

Each accepts a Value or a plain real number and returns a Value, so the same expression
works whether its inputs are already in a graph or not.

>>> from microgrsucc import Value, sin
>>> sin(0.0).data, sin(Value(0.0)).data
(0.0, 0.0)
"""

from __future__ import annotations

from microgrsucc.engine import Operand, Value, _leaf, _to_float

__all__ = ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu"]


def _value(x: Operand, name: str) -> Value:
    return x if isinstance(x, Value) else _leaf(_to_float(x, name))


def exp(x: Operand) -> Value:
    return _value(x, "exp").exp()


def log(x: Operand) -> Value:
    return _value(x, "log").log()


def sqrt(x: Operand) -> Value:
    return _value(x, "sqrt").sqrt()


def sin(x: Operand) -> Value:
    return _value(x, "sin").sin()


def cos(x: Operand) -> Value:
    return _value(x, "cos").cos()


def tanh(x: Operand) -> Value:
    return _value(x, "tanh").tanh()


def sigmoid(x: Operand) -> Value:
    return _value(x, "sigmoid").sigmoid()


def relu(x: Operand) -> Value:
    return _value(x, "relu").relu()
