"""The elementary functions: arithmetic, powers, exponentials and logarithms, the circular and
hyperbolic functions and their inverses, erf, and the ops of two inputs PyTorch has
(``maximum``, ``atan2``, ``fmod``, ...). Each is a forward and its local derivative, side by
side, with PyTorch's name and its float64 value and slope at every kink and domain edge.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from microgrsucc.ops.primitive import FLOAT, Derivative, Primitive, register, swapped_inputs, vertical

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "abs_", "exp", "log", "sqrt", "sin", "cos", "tanh",
    "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
    "log1p", "expm1", "log2", "log10", "exp2", "erf", "erfc",
    "maximum", "minimum", "atan2", "hypot", "fmod", "remainder", "pow_const",
]  # fmt: skip

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


# The new logarithms follow PyTorch at the edge of their domain, where the limit is an infinity
# (log1p(-1) = -inf, as in torch), and refuse what lies beyond it (torch's NaN).


def _log1p(x: float) -> float:
    if x < -1.0:
        raise ValueError("the operand must be >= -1")
    return -math.inf if x == -1.0 else math.log1p(x)


def _log_base(x: float, log: Callable[[float], float]) -> float:
    if x < 0.0:
        raise ValueError("the operand must be >= 0")
    return -math.inf if x == 0.0 else log(x)


def _log2(x: float) -> float:
    return _log_base(x, math.log2)


def _log10(x: float) -> float:
    return _log_base(x, math.log10)


def _in_unit_interval(x: float) -> None:
    if x < -1.0 or x > 1.0:
        raise ValueError("the operand must be in [-1, 1]")


def _asin(x: float) -> float:
    _in_unit_interval(x)
    return math.asin(x)


def _acos(x: float) -> float:
    _in_unit_interval(x)
    return math.acos(x)


def _atanh(x: float) -> float:
    _in_unit_interval(x)
    return math.copysign(math.inf, x) if abs(x) == 1.0 else math.atanh(x)


def _acosh(x: float) -> float:
    if x < 1.0:
        raise ValueError("the operand must be >= 1")
    return math.acosh(x)


def _exp2(x: float) -> float:
    return float(2.0**x)  # math.exp2 is Python 3.11's; pow raises OverflowError past the floats, as exp


def _fmod(x: float, y: float) -> float:
    if y == 0.0:
        raise ZeroDivisionError("fmod by zero")
    return math.nan if math.isinf(x) else math.fmod(x, y)


def _remainder(x: float, y: float) -> float:
    if y == 0.0:
        raise ZeroDivisionError("remainder by zero")
    return x % y  # Python's float % is torch.remainder: the sign of the divisor


# Branches are written so NaN falls through to the NaN case: a diverged model must not
# look healthy (relu(nan) is nan, as in torch).


def _maximum(x: float, y: float) -> float:
    return x if x > y else (y if x <= y else math.nan)


def _minimum(x: float, y: float) -> float:
    return x if x < y else (y if x >= y else math.nan)


# --- derivatives that need a branch or a stable form ----------------------------------------


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (0.0 if x == 0.0 else math.nan))


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
        return vertical(F, x)  # the slope is vertical at 0 (torch gives inf too)
    except OverflowError:
        # Two finite factors (a negative base splits at an integer, so neither needs a
        # fractional power); their product is the slope, or ±inf, and as a graph its
        # derivative is the next slope, not the 0 of a constant. (Float // is the floor of
        # the quotient, as math.floor, and it derives to a tree: compile runs this on symbols.)
        half = (n0 - 1.0) / 2.0 if x0 > 0.0 else (n0 - 1.0) // 2.0
        if F is FLOAT:
            try:
                return n0 * x0**half * x0 ** (n0 - 1.0 - half)
            except OverflowError:  # a factor past the floats too (x**-1.95 at 5e-324): ±inf
                odd = x0 < 0.0 and (n0 - 1.0) % 2.0 == 1.0  # x**(n-1) < 0
                return 0.0 if n0 == 0.0 else math.copysign(math.inf, -n0 if odd else n0)
        return n * x**half * x ** (n - 1.0 - half)
    if F is FLOAT:
        return n0 * power
    return n * x ** (n - 1.0)  # a graph, differentiable again (x**3 -> 3x**2 -> 6x)


def _pow_partials(F: Any, x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    # d/dy x**y = out * log(x) exists only for x > 0; at x == 0 (y >= 0, so not a NaN y) we
    # use 0 like PyTorch. At x < 0 it is NaN times out, not a constant NaN: a constant's own
    # derivatives are 0, which made hessian's d²/dydx 0 beside a NaN d²/dxdy.
    x0 = F.value(x)
    dy = out * F.log(x) if x0 > 0.0 else 0.0 if x0 == 0.0 and F.value(y) >= 0.0 else out * math.nan
    return _power_partial(F, x, y, out), dy


def _sqrt_partial(F: Any, x: Any, out: Any) -> Any:
    return 0.5 / out if F.value(out) != 0.0 else vertical(F, x)


def _over_root(F: Any, x: Any, s: Any, sign: float) -> Any:
    """sign / sqrt(s), the slope of asin, acos and acosh; ±inf (vertical) where s is 0."""
    return sign / F.sqrt(s) if F.value(s) != 0.0 else vertical(F, x, sign)


def _reciprocal(F: Any, x: Any, scale: float) -> Any:
    """1 / (scale x), the slope of a logarithm; ±inf at ±0, as torch's 1 / (scale x)."""
    x0 = F.value(x)
    return 1.0 / (x * scale) if x0 != 0.0 else vertical(F, x, math.copysign(1.0, x0))


def _atanh_partial(F: Any, x: Any, out: Any) -> Any:
    s = 1.0 - x * x
    return 1.0 / s if F.value(s) != 0.0 else vertical(F, x)


def _extremum(F: Any, x: Any, y: Any, out: Any) -> tuple[float, float]:
    """maximum's slopes: 1 to the larger input, half each at a tie (as torch), NaN for NaN."""
    a, b = F.value(x), F.value(y)
    return (
        (1.0, 0.0) if a > b else ((0.0, 1.0) if a < b else ((0.5, 0.5) if a == b else (math.nan, math.nan)))
    )


def _minimum_partials(F: Any, x: Any, y: Any, out: Any) -> tuple[float, float]:
    a, b = F.value(x), F.value(y)
    return (
        (1.0, 0.0) if a < b else ((0.0, 1.0) if a > b else ((0.5, 0.5) if a == b else (math.nan, math.nan)))
    )


def _atan2_partials(F: Any, y: Any, x: Any, out: Any) -> tuple[Any, Any]:
    # torch's x / r² and -y / r², and 0 for both at the origin, where torch gives 0 too.
    r = x * x + y * y
    return (x / r, -y / r) if F.value(r) != 0.0 else (0.0, 0.0)


def _hypot_partials(F: Any, x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    # x / out and y / out; NaN at the origin (no slope: a cone), as torch's 0 / 0, and as a
    # graph NaN whose own slope is NaN too.
    return (x / out, y / out) if F.value(out) != 0.0 else (x * math.nan, y * math.nan)


def _quotient(x: float, y: float, rounded: Callable[[float], float]) -> float:
    """The rounded quotient whose negative is d/dy of fmod (trunc) or remainder (floor)."""
    q = x / y
    return float(rounded(q)) if math.isfinite(q) else q


def _fmod_partials(F: Any, x: Any, y: Any, out: Any) -> tuple[float, float]:
    return 1.0, -_quotient(F.value(x), F.value(y), math.trunc)


def _remainder_partials(F: Any, x: Any, y: Any, out: Any) -> tuple[float, float]:
    # Python's floor division, as torch's (1 // -inf is -1, where floor(1 / -inf) is -0).
    return 1.0, -(F.value(x) // F.value(y))


# --- the table ---------------------------------------------------------------------------
# Argument intervals for the domains below.
_WIDE, _MID = ((-100.0, 100.0),), ((-30.0, 30.0),)
_NOT_ZERO = ((-50.0, -1e-3), (1e-3, 50.0))  # a kink at 0
_POSITIVE = ((1e-2, 1e3),)
_INSIDE_ONE = ((-0.99, 0.99),)
_DIVISOR = ((-5.0, -0.5), (0.5, 5.0))
_APART, _FAR = ((-10.0, 10.0),), ((-30.0, -20.0), (20.0, 30.0))  # no tie: maximum's kink
_OFF_AXIS = ((-10.0, -0.5), (0.5, 10.0))  # away from the origin, atan2's and hypot's singular point
_ERF_2 = 2.0 / math.sqrt(math.pi)  # d/dx erf(x) = 2/sqrt(pi) exp(-x²)

#                      name      arity forward        d/d(inputs) given (F, inputs..., out)
add = Primitive("+", 2, operator.add, (1.0, 1.0), operator="add", domain=(_WIDE, _WIDE))
sub = Primitive("-", 2, operator.sub, (1.0, -1.0), operator="sub", domain=(_WIDE, _WIDE), symbol="\u2212")
mul = Primitive("*", 2, operator.mul, swapped_inputs, operator="mul", domain=(_MID, _MID), symbol="\u00d7")
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

# The rest of the calculus book: inverse and hyperbolic functions, logs and exps of other bases.
tan = Primitive("tan", 1, math.tan, lambda F, x, out: 1.0 + out * out, domain=(((-1.4, 1.4),),))
asin = Primitive(
    "asin", 1, _asin, lambda F, x, out: _over_root(F, x, 1.0 - x * x, 1.0), domain=(_INSIDE_ONE,)
)
acos = Primitive(
    "acos", 1, _acos, lambda F, x, out: _over_root(F, x, 1.0 - x * x, -1.0), domain=(_INSIDE_ONE,)
)
atan = Primitive("atan", 1, math.atan, lambda F, x, out: 1.0 / (1.0 + x * x), domain=(_WIDE,))
sinh = Primitive("sinh", 1, math.sinh, lambda F, x, out: F.cosh(x), domain=(((-20.0, 20.0),),))
cosh = Primitive("cosh", 1, math.cosh, lambda F, x, out: F.sinh(x), domain=(((-20.0, 20.0),),))
asinh = Primitive("asinh", 1, math.asinh, lambda F, x, out: 1.0 / F.sqrt(x * x + 1.0), domain=(_WIDE,))
acosh = Primitive(
    "acosh", 1, _acosh, lambda F, x, out: _over_root(F, x, x * x - 1.0, 1.0), domain=(((1.01, 1e3),),)
)
atanh = Primitive("atanh", 1, _atanh, _atanh_partial, domain=(_INSIDE_ONE,))
log1p = Primitive(
    "log1p", 1, _log1p, lambda F, x, out: _reciprocal(F, x + 1.0, 1.0), domain=(((-0.99, 1e3),),)
)
expm1 = Primitive("expm1", 1, math.expm1, lambda F, x, out: out + 1.0, domain=(((-20.0, 20.0),),))
log2 = Primitive("log2", 1, _log2, lambda F, x, out: _reciprocal(F, x, math.log(2.0)), domain=(_POSITIVE,))
log10 = Primitive(
    "log10", 1, _log10, lambda F, x, out: _reciprocal(F, x, math.log(10.0)), domain=(_POSITIVE,)
)
exp2 = Primitive("exp2", 1, _exp2, lambda F, x, out: out * math.log(2.0), domain=(((-30.0, 30.0),),))
erf = Primitive("erf", 1, math.erf, lambda F, x, out: _ERF_2 * F.exp(-x * x), domain=(((-5.0, 5.0),),))
erfc = Primitive("erfc", 1, math.erfc, lambda F, x, out: -_ERF_2 * F.exp(-x * x), domain=(((-5.0, 5.0),),))

# Two inputs, with torch's argument order (atan2(y, x)) and slopes at ties and the origin.
maximum = Primitive("maximum", 2, _maximum, _extremum, domain=(_APART, _FAR))
minimum = Primitive("minimum", 2, _minimum, _minimum_partials, domain=(_APART, _FAR))
atan2 = Primitive("atan2", 2, math.atan2, _atan2_partials, domain=(_OFF_AXIS, _MID))
hypot = Primitive("hypot", 2, math.hypot, _hypot_partials, domain=(_OFF_AXIS, _MID))
fmod = Primitive("fmod", 2, _fmod, _fmod_partials, domain=(_MID, _DIVISOR))
remainder = Primitive("remainder", 2, _remainder, _remainder_partials, domain=(_MID, _DIVISOR))


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


register(add, sub, mul, div, pow, neg, abs_, exp, log, sqrt, sin, cos, tanh)
register(tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, log1p, expm1, log2, log10, exp2, erf, erfc)
register(maximum, minimum, atan2, hypot, fmod, remainder)
