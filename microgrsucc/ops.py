"""The table of primitives: each op's forward and its local derivative, side by side.

This module is the only place that knows what an op computes. The engine (``engine.py``)
records a node per op application and, in ``backward()``, multiplies the upstream gradient
by the partials written here.

A derivative is written once, in terms of the inputs ``x`` (and ``y``), the op's output
``out`` and a namespace ``F`` of elementary functions. ``backward()`` calls it with floats
and ``F = FLOAT`` for plain first-order gradients (fast), and with Values and ``F`` = the
Value methods (``engine._VALUE``) when ``create_graph=True``, so the gradient is itself a
graph that can be differentiated again; forward mode (``forward.Dual``) calls it with
floats. A unary op returns one partial; an op of n inputs returns a tuple of n partials,
in input order.

Forward functions take and return floats. They raise ``ValueError`` with a short reason for
inputs outside their domain; the engine prefixes the op and its operands to every error.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

__all__ = ["Primitive", "PRIMITIVES", "FLOAT", "DEFAULT_DOMAIN", "pow_const"]

# A derivative is a function of (F, *inputs, out) whose inputs are floats or Values, or, for a
# linear op, its constant partials; so it is typed Any.
Derivative = Any

# Where tests and random graphs draw an op's arguments: per argument, one or more intervals.
Domain = tuple[tuple[tuple[float, float], ...], ...]

DEFAULT_DOMAIN: tuple[tuple[float, float], ...] = ((-1.0, 1.0),)
"""Each argument's interval for an op that declares no domain: moderate reals."""


class Primitive:
    """One op: its name, arity, float forward and local derivative.

    A name that is an identifier becomes a Value method and a module-level function
    (``x.exp()``, ``microgrsucc.exp``) and a function of the command line's expressions;
    ``operator`` makes it a Python operator too (``"add"``: ``__add__`` and ``__radd__``).
    ``domain`` says where tests draw its arguments, away from kinks and domain edges: per
    argument, a tuple of intervals; ``DEFAULT_DOMAIN`` for each argument when not given.
    ``symbol`` is how pictures write it (the name when not given).

    >>> mul.forward(3.0, 4.0), mul.derivative(FLOAT, 3.0, 4.0, 12.0)
    (12.0, (4.0, 3.0))
    """

    __slots__ = ("name", "arity", "forward", "derivative", "constant", "operator", "domain", "symbol")

    def __init__(
        self,
        name: str,
        arity: int,
        forward: Callable[..., float],
        derivative: Derivative,
        *,
        operator: str | None = None,
        domain: Domain | None = None,
        symbol: str | None = None,
    ) -> None:
        self.name = name
        self.arity = arity
        self.forward = forward
        self.derivative = derivative
        # A linear op's partials do not depend on its inputs (1 and 1 for +): write them as a
        # number or tuple instead of a function and backward() reads them without a call.
        self.constant = not callable(derivative)
        self.operator = operator
        self.domain: Domain = domain if domain is not None else (DEFAULT_DOMAIN,) * arity
        self.symbol = symbol or name  # how pictures write the op

    def __repr__(self) -> str:
        return f"<primitive {self.name}/{self.arity}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # A built-in pickles by name, so an unpickled graph shares the table's entries.
        if PRIMITIVES.get(self.name) is self:
            return (_builtin, (self.name,))
        return (_custom, (self.name, self.arity, self.forward, self.derivative, self.domain, self.symbol))


def _builtin(name: str) -> Primitive:
    return PRIMITIVES[name]


def _custom(
    name: str, arity: int, forward: Callable[..., float], derivative: Derivative, domain: Domain, symbol: str
) -> Primitive:
    return Primitive(name, arity, forward, derivative, domain=domain, symbol=symbol)


# --- forwards that need a domain check or a numerically stable form -------------------------


def _div(x: float, y: float) -> float:
    if y == 0.0:
        raise ZeroDivisionError("division by zero")
    return x / y


def _pow(x: float, y: float) -> float:
    # A NaN or infinite exponent is not a domain error: IEEE pow gives nan or inf/0 (as torch).
    if x < 0.0 and math.isfinite(y) and not float(y).is_integer():
        raise ValueError(f"a negative base needs an integer exponent, got {y!r} (a complex result)")
    if x == 0.0 and y < 0.0:
        raise ZeroDivisionError("0 cannot be raised to a negative power")
    return float(x**y)


def _log(x: float) -> float:
    if x <= 0.0:
        raise ValueError("the operand must be > 0")
    return math.log(x)


def _sqrt(x: float) -> float:
    if x < 0.0:
        raise ValueError("the operand must be >= 0")
    return math.sqrt(x)


def _sigmoid(x: float) -> float:
    # Two branches so exp() only sees non-positive arguments: no overflow at any x.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# Branches are written so NaN falls through to the NaN case: a diverged model must not
# look healthy (relu(nan) is nan, as in torch).


def _relu(x: float) -> float:
    return 0.0 if x <= 0.0 else x


def _step(x: float) -> float:
    """relu's slope: 0 up to and at 0 (as torch), 1 above, NaN for NaN."""
    return 1.0 if x > 0.0 else (0.0 if x <= 0.0 else math.nan)


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (0.0 if x == 0.0 else math.nan))


# The table's forwards by name (F.cos), for derivatives evaluated without a graph, and
# value: the plain number inside, for branching (the identity here). The forwards are added
# by functions.py once this module has run to its end, so an op appended to the table is in
# it too; a plain namespace, so that reading F.cos in a derivative stays a fast lookup.
FLOAT = SimpleNamespace(value=float)


def _power_partial(F: Any, x: Any, n: Any, out: Any) -> Any:
    """d/dx x**n = n * x**(n-1), as torch computes it, over the whole float range.

    Not n * out / x, which overflows or underflows in the middle where the slope itself
    is finite (x**2 at 1e154). Where x**(n-1) alone is past the floats, the slope is
    computed as two factors: it may still be finite (n near 0), else it is ±inf as in torch.
    """
    x0, n0 = F.value(x), F.value(n)
    if n0 == 0.0 and (n0 is n or x0 == 0.0):  # a constant 0 (a Value exponent has a slope)
        return 0.0
    try:
        power = float(x0 ** (n0 - 1.0))
    except ZeroDivisionError:  # x == 0 with 0 < n < 1 (n < 0 fails in the forward)
        return _vertical(F, x)  # the slope is vertical at 0 (torch gives inf too)
    except OverflowError:
        # Two finite factors (a negative base splits at an integer, so neither needs a
        # fractional power); their product is the slope, or ±inf, and as a graph its
        # derivative is the next slope, not the 0 of a constant.
        half = (n0 - 1.0) / 2.0 if x0 > 0.0 else float(math.floor((n0 - 1.0) / 2.0))
        if F is FLOAT:
            return n0 * x0**half * x0 ** (n0 - 1.0 - half)
        return n * x**half * x ** (n - 1.0 - half)
    if F is FLOAT:
        return n0 * power
    return n * x ** (n - 1.0)  # a graph, differentiable again (x**3 -> 3x**2 -> 6x)


def _pow_partials(F: Any, x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    # d/dy x**y = out * log(x) exists only for x > 0; at x == 0 (y >= 0, so not a NaN y) we
    # use 0 like PyTorch.
    x0 = F.value(x)
    dy = out * F.log(x) if x0 > 0.0 else (0.0 if x0 == 0.0 and F.value(y) >= 0.0 else math.nan)
    return _power_partial(F, x, y, out), dy


def _vertical(F: Any, x: Any) -> Any:
    """The slope of a vertical tangent: inf; as a graph, one whose own slope is NaN (undefined),
    so a second derivative there says so rather than the 0 of a constant."""
    return math.inf if F is FLOAT else (x * 0.0 + 1.0) * math.inf


def _sqrt_partial(F: Any, x: Any, out: Any) -> Any:
    return 0.5 / out if F.value(out) != 0.0 else _vertical(F, x)


# --- the table ---------------------------------------------------------------------------
# Argument intervals for the domains below.
_WIDE, _MID = ((-100.0, 100.0),), ((-30.0, 30.0),)
_NOT_ZERO = ((-50.0, -1e-3), (1e-3, 50.0))  # a kink at 0
_POSITIVE = ((1e-2, 1e3),)

#                      name      arity forward        d/d(inputs) given (F, inputs..., out)
add = Primitive("+", 2, operator.add, (1.0, 1.0), operator="add", domain=(_WIDE, _WIDE))
sub = Primitive("-", 2, operator.sub, (1.0, -1.0), operator="sub", domain=(_WIDE, _WIDE), symbol="\u2212")
mul = Primitive(
    "*", 2, operator.mul, lambda F, x, y, out: (y, x), operator="mul", domain=(_MID, _MID), symbol="\u00d7"
)
div = Primitive(
    "/", 2, _div, lambda F, x, y, out: (1.0 / y, -out / y),
    operator="truediv", domain=(_MID, ((-30.0, -0.1), (0.1, 30.0))), symbol="\u00f7",
)  # fmt: skip
pow = Primitive("**", 2, _pow, _pow_partials, domain=(((0.1, 5.0),), ((-3.0, 3.0),)))
neg = Primitive("neg", 1, operator.neg, -1.0, operator="neg", domain=(_WIDE,), symbol="\u2212x")
abs_ = Primitive("abs", 1, abs, lambda F, x, out: _sign(F.value(x)), operator="abs", domain=(_NOT_ZERO,))
exp = Primitive("exp", 1, math.exp, lambda F, x, out: out, domain=(((-20.0, 20.0),),))
log = Primitive("log", 1, _log, lambda F, x, out: 1.0 / x, domain=(_POSITIVE,))
sqrt = Primitive("sqrt", 1, _sqrt, _sqrt_partial, domain=(_POSITIVE,))
sin = Primitive("sin", 1, math.sin, lambda F, x, out: F.cos(x), domain=(((-20.0, 20.0),),))
cos = Primitive("cos", 1, math.cos, lambda F, x, out: -F.sin(x), domain=(((-20.0, 20.0),),))
tanh = Primitive("tanh", 1, math.tanh, lambda F, x, out: 1.0 - out * out, domain=(((-10.0, 10.0),),))
sigmoid = Primitive("sigmoid", 1, _sigmoid, lambda F, x, out: out * (1.0 - out), domain=(_MID,))
relu = Primitive("relu", 1, _relu, lambda F, x, out: _step(F.value(x)), domain=(_NOT_ZERO,))


@lru_cache(maxsize=256)
def pow_const(n: float) -> Primitive:
    """``x ** n`` for a constant ``n``: a unary op, so no gradient is owed to the exponent."""
    name = f"**{int(n)}" if n.is_integer() else f"**{n:g}"  # short, for pictures

    def forward(x: float) -> float:
        return _pow(x, n)

    def derivative(F: Any, x: Any, out: Any) -> Any:
        return n if n == 0.0 or n == 1.0 else _power_partial(F, x, n, out)

    return _ConstantPower(name, n, forward, derivative)


class _ConstantPower(Primitive):
    """``x ** n`` for one constant n; pickles as ``pow_const(n)``."""

    __slots__ = ("exponent",)

    def __init__(self, name: str, n: float, forward: Callable[..., float], derivative: Derivative) -> None:
        super().__init__(name, 1, forward, derivative)
        self.exponent = n

    def __reduce__(self) -> tuple[Any, ...]:
        return (pow_const, (self.exponent,))


PRIMITIVES: dict[str, Primitive] = {
    p.name: p for p in (add, sub, mul, div, pow, neg, abs_, exp, log, sqrt, sin, cos, tanh, sigmoid, relu)
}
