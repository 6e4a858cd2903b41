"""The activations of ``torch.nn.functional``, each a forward and its local derivative.

An op with constants (``leaky_relu``'s ``negative_slope``, ``softplus``'s ``beta``) is a family
of primitives, one per value of its constants (``Parametric``): the function that makes one
is cached, and its defaults are PyTorch's; the table holds the instance with the defaults.
At every kink the slope is PyTorch's float64 one (``leaky_relu'(0)`` is the negative slope,
``hardtanh'`` is 0 at its bounds and ``clamp'`` is 1 at its bounds); a NaN input gives a
NaN slope, where PyTorch's masks give 0 or 1, so a diverged model does not look healthy.

``clamp`` with a bound that is a Value (torch's clamp of tensors, whose bounds get gradients)
applies one of three ops whose bounds are operands: ``clamp_min``, ``clamp_max`` (torch's names)
and, with both bounds, ``clamp_min_max``, one op of three inputs, because torch's gradients at
``min == max`` are not those of ``clamp_max(clamp_min(x, min), max)``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from microgrsucc.ops.primitive import Domain, Parametric, Primitive, constant, register

__all__ = [
    "sigmoid", "relu", "softplus", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
    "softsign", "hardtanh", "relu6", "hardsigmoid", "hardswish", "clamp",
    "clamp_min", "clamp_max", "clamp_min_max",
    "softplus_of", "leaky_relu_of", "elu_of", "celu_of", "gelu_of", "hardtanh_of", "clamp_of",
]  # fmt: skip

_MID = ((-30.0, 30.0),)
_NOT_ZERO = ((-50.0, -1e-3), (1e-3, 50.0))  # a kink at 0
_NAN = math.nan

# SELU's constants (Klambauer et al. 2017), as torch writes them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_K = math.sqrt(2.0 / math.pi)  # gelu's tanh form: tanh(k (x + 0.044715 x³))
_GELU_C = 0.044715


# --- forwards ----------------------------------------------------------------------------------


def _sigmoid(x: float) -> float:
    # Two branches so exp() only sees non-positive arguments: no overflow at any x.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _log1p_exp(z: float) -> float:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return (z if z > 0.0 else 0.0) + math.log1p(math.exp(-abs(z)))


def _softplus(x: float, beta: float, threshold: float) -> float:
    z = x * beta
    return x if z > threshold else _log1p_exp(z) / beta  # torch's linear regime above threshold


# Branches are written so NaN falls through to the NaN case: a diverged model must not
# look healthy (relu(nan) is nan, as in torch).


def _relu(x: float) -> float:
    return 0.0 if x <= 0.0 else x


def _clip(x: float, low: float, high: float) -> float:
    """min(max(x, low), high) as torch's clamp: ``high`` when low > high, NaN for a NaN
    input or bound."""
    if x != x or low != low or high != high:
        return _NAN
    y = low if x < low else x
    return high if y > high else y


def _hardswish(x: float) -> float:
    return x * _clip(x + 3.0, 0.0, 6.0) / 6.0  # torch's: NaN at -inf (-inf * 0), -0.0 at -3


# --- slopes ------------------------------------------------------------------------------------


def _step(x: float, low: float = 0.0, high: float = 1.0) -> float:
    """A slope that is ``low`` up to and at 0 and ``high`` above (relu: 0 and 1), NaN for NaN."""
    return high if x > 0.0 else (low if x <= 0.0 else _NAN)


def _inside(x: float, low: float, high: float, closed: bool) -> float:
    """1 between the bounds (with them for clamp, without for hardtanh), 0 outside, NaN for NaN."""
    within = low <= x <= high if closed else low < x < high
    return 1.0 if within else (0.0 if x == x else _NAN)


def _softplus_slope(F: Any, x: Any, beta: float, threshold: float) -> Any:
    # sigmoid(beta x) below the threshold, 1 above; at it, a constant, so the second
    # derivative there is 0 as torch's (which masks it with beta x < threshold).
    z = F.value(x) * beta
    return 1.0 if z > threshold else (_sigmoid(z) if z == threshold else F.sigmoid(x * beta))


def _elu_slope(F: Any, x: Any, alpha: float, scale: float) -> Any:
    # scale above 0, alpha exp(x) up to it; at 0, the constant alpha, so the second derivative
    # there is 0 as torch's (elu, selu).
    x0 = F.value(x)
    return scale if x0 > 0.0 else (alpha * F.exp(x) if x0 < 0.0 else (alpha if x0 == 0.0 else _NAN))


def _celu_slope(F: Any, x: Any, alpha: float) -> Any:
    # As elu's, branching on x itself: x / alpha has the other sign for a negative alpha (the
    # slope was 1 below 0 and exp(x / alpha) above), and is -0.0 for x = -5e-324, alpha = 2.
    x0 = F.value(x)
    return 1.0 if x0 > 0.0 else (F.exp(x / alpha) if x0 < 0.0 else (1.0 if x0 == 0.0 else _NAN))


def _gelu_tanh(x: float) -> float:
    # 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation for large negative x.
    return x * _sigmoid(2.0 * _GELU_K * (x + _GELU_C * x * x * x))


def _gelu_tanh_slope(F: Any, x: Any) -> Any:
    # torch's 0.5 (1 + tanh u) + 0.5 x (1 - tanh² u) u', written with s = sigmoid(2u).
    s = F.sigmoid(2.0 * _GELU_K * (x + _GELU_C * x * x * x))
    return s + 2.0 * x * s * (1.0 - s) * _GELU_K * (1.0 + 3.0 * _GELU_C * x * x)


def _mish_slope(F: Any, x: Any) -> Any:
    t = F.tanh(F.softplus(x))
    return t + x * F.sigmoid(x) * (1.0 - t * t)


# --- the ops with constants: one primitive per value, made on demand --------------------------


def _between(low: float, high: float) -> Domain:
    """Intervals below, between and above two kinks, for tests to draw from."""
    lo, hi = max(low, -50.0), min(high, 50.0)
    parts = [(lo - 3.0, lo - 0.01), (lo + 0.01, hi - 0.01), (hi + 0.01, hi + 3.0)]
    return (tuple((a, b) for a, b in parts if a < b),)


def _apart(kink: float) -> Domain:
    """Moderate reals on both sides of one kink, for tests to draw from."""
    parts = [(-30.0, kink - 0.1), (kink + 0.1, 30.0)]
    return (tuple((a, b) for a, b in parts if a < b) or _MID,)


@lru_cache(maxsize=256)
def softplus_of(beta: float = 1.0, threshold: float = 20.0) -> Primitive:
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold`` (torch's)."""
    b, t = constant(beta, "softplus", "beta"), constant(threshold, "softplus", "threshold")
    if b == 0.0:
        raise ValueError("softplus: beta must not be 0")
    return Parametric(
        "softplus", softplus_of, (b, t),
        lambda x: _softplus(x, b, t),
        lambda F, x, out: _softplus_slope(F, x, b, t),
        domain=_apart(t / b),  # x = threshold / beta: the linear regime starts there
    )  # fmt: skip


@lru_cache(maxsize=256)
def leaky_relu_of(negative_slope: float = 0.01) -> Primitive:
    """``x`` above 0, ``negative_slope * x`` up to it; the slope at 0 is the negative one."""
    s = constant(negative_slope, "leaky_relu", "negative_slope")
    return Parametric(
        "leaky_relu", leaky_relu_of, (s,),
        lambda x: x if x > 0.0 else x * s,
        lambda F, x, out: _step(F.value(x), s),
        domain=(_NOT_ZERO,),
    )  # fmt: skip


@lru_cache(maxsize=256)
def elu_of(alpha: float = 1.0) -> Primitive:
    """``x`` above 0, ``alpha (exp(x) - 1)`` up to it; the slope at 0 is ``alpha``."""
    a = constant(alpha, "elu", "alpha")
    return Parametric(
        "elu", elu_of, (a,),
        lambda x: x if x > 0.0 else a * math.expm1(x),
        lambda F, x, out: _elu_slope(F, x, a, 1.0),
        domain=(_NOT_ZERO,),
    )  # fmt: skip


@lru_cache(maxsize=256)
def celu_of(alpha: float = 1.0) -> Primitive:
    """``x`` above 0, ``alpha (exp(x / alpha) - 1)`` up to it; the slope at 0 is 1."""
    a = constant(alpha, "celu", "alpha")
    if a == 0.0:
        raise ValueError("celu: alpha must not be 0")
    return Parametric(
        "celu", celu_of, (a,),
        lambda x: x if x > 0.0 else a * math.expm1(x / a),
        lambda F, x, out: _celu_slope(F, x, a),
        domain=(_NOT_ZERO,),
    )  # fmt: skip


@lru_cache(maxsize=256)
def gelu_of(approximate: str = "none") -> Primitive:
    """``x Φ(x)`` with the normal CDF exact (``"none"``, through erfc, accurate in the left
    tail) or in torch's tanh approximation (``"tanh"``)."""
    if approximate == "none":
        return Parametric(
            "gelu", gelu_of, (approximate,),
            lambda x: 0.5 * x * math.erfc(-x * _SQRT_HALF),
            lambda F, x, out: 0.5 * F.erfc(-x * _SQRT_HALF) + x * F.exp(-0.5 * x * x) * _INV_SQRT_2PI,
            domain=(_MID,),
        )  # fmt: skip
    if approximate == "tanh":
        return Parametric(
            "gelu", gelu_of, (approximate,),
            _gelu_tanh,
            lambda F, x, out: _gelu_tanh_slope(F, x),
            domain=(((-20.0, 30.0),),),  # below -20 the value is subnormal: few digits to judge
        )  # fmt: skip
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


@lru_cache(maxsize=256)
def hardtanh_of(min_val: float = -1.0, max_val: float = 1.0) -> Primitive:
    """``x`` clipped to [min_val, max_val]; the slope is 0 at the bounds (torch's)."""
    lo, hi = constant(min_val, "hardtanh", "min_val"), constant(max_val, "hardtanh", "max_val")
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) cannot be greater than max_val ({hi})")
    return Parametric(
        "hardtanh", hardtanh_of, (lo, hi),
        lambda x: _clip(x, lo, hi),
        lambda F, x, out: _inside(F.value(x), lo, hi, False),
        domain=_between(lo, hi),
    )  # fmt: skip


def _clamp_by_operands(x: Any, min: Any, max: Any) -> Any:  # torch's names
    """``x.clamp(min, max)`` where a bound is a Value: the op of the table whose operands are
    ``x`` and the bounds given, as torch's clamp of tensors (a bound that is a number is a
    constant leaf there)."""
    out = x.clamp_min(min) if max is None else x.clamp_max(max) if min is None else x.clamp_min_max(min, max)
    if out is NotImplemented:
        given = ", ".join(f"{k}={type(b).__name__}" for k, b in (("min", min), ("max", max)) if b is not None)
        raise TypeError(f"clamp: the bounds must be real numbers or Values, got {given}")
    return out


@lru_cache(maxsize=256)
def clamp_of(min: float | None = None, max: float | None = None) -> Primitive:  # torch's names
    """``x`` clipped to [min, max], either bound optional; the slope is 1 at the bounds (torch's).

    With ``min > max`` every value is ``max`` (torch's). With neither bound it is the identity,
    the table's entry; ``x.clamp()`` refuses that, as torch does.
    """
    lo = -math.inf if min is None else constant(min, "clamp", "min")
    hi = math.inf if max is None else constant(max, "clamp", "max")
    return Parametric(
        "clamp", clamp_of, (None if min is None else lo, None if max is None else hi),
        lambda x: _clip(x, lo, hi),
        lambda F, x, out: _inside(F.value(x), lo, hi, True) if lo == lo and hi == hi else _NAN,
        domain=_between(lo, hi) if math.isfinite(lo) or math.isfinite(hi) else ((( -100.0, 100.0),),),
        operands=_clamp_by_operands,
    )  # fmt: skip


# clamp with bounds that are operands: torch's slopes (its clamp_backward_min_max) to x and to
# each bound. x gets the slope where it is not clipped, ties included; a bound where it clips
# x, except that with min >= max the result is max's alone (min's slope is 0 at min == max too,
# where torch gives no input a slope when x < min). A NaN anywhere: NaN slopes (see above).


def _clamp_min(x: float, low: float) -> float:
    return low if x < low else (x if low == low else low)  # NaN for a NaN x or bound


def _clamp_max(x: float, high: float) -> float:
    return high if x > high else (x if high == high else high)


def _clamp_min_partials(F: Any, x: Any, low: Any, out: Any) -> tuple[float, float]:
    a, lo = F.value(x), F.value(low)
    return (1.0, 0.0) if a >= lo else ((0.0, 1.0) if a < lo else (_NAN, _NAN))


def _clamp_max_partials(F: Any, x: Any, high: Any, out: Any) -> tuple[float, float]:
    a, hi = F.value(x), F.value(high)
    return (1.0, 0.0) if a <= hi else ((0.0, 1.0) if a > hi else (_NAN, _NAN))


_NONE, _NANS = (0.0, 0.0, 0.0), (_NAN, _NAN, _NAN)


def _clamp_min_max_partials(F: Any, x: Any, low: Any, high: Any, out: Any) -> tuple[float, float, float]:
    # One comparison at a time, a NaN anywhere falling through to NaN slopes (a tree of few
    # paths for compile and the page: see compiler.tree).
    a, lo, hi = F.value(x), F.value(low), F.value(high)
    if a < lo:  # below min: min's if min < max, max's if max < min, no one's at min == max
        return (
            (0.0, 1.0, 0.0) if lo < hi else ((0.0, 0.0, 1.0) if hi < lo else (_NONE if hi == lo else _NANS))
        )
    if a > hi:  # above max and not below min
        return (0.0, 0.0, 1.0) if lo == lo else _NANS
    return (1.0, 0.0, 0.0) if lo <= a <= hi else _NANS  # between, or a NaN x


# --- the table ---------------------------------------------------------------------------
_HARD = ((-5.0, -3.01), (-2.99, 2.99), (3.01, 5.0))  # kinks at ±3

#                      name      arity forward        d/d(input) given (F, input, out)
sigmoid = Primitive("sigmoid", 1, _sigmoid, lambda F, x, out: out * (1.0 - out), domain=(_MID,))
relu = Primitive("relu", 1, _relu, lambda F, x, out: _step(F.value(x)), domain=(_NOT_ZERO,))
softplus = softplus_of()
leaky_relu = leaky_relu_of()
elu = elu_of()
selu = Primitive(
    "selu", 1,
    lambda x: _SELU_SCALE * (x if x > 0.0 else _SELU_ALPHA * math.expm1(x)),
    lambda F, x, out: _elu_slope(F, x, _SELU_SCALE * _SELU_ALPHA, _SELU_SCALE),
    domain=(_NOT_ZERO,),
)  # fmt: skip
celu = celu_of()
gelu = gelu_of()
silu = Primitive(
    "silu", 1,
    lambda x: x * _sigmoid(x),
    lambda F, x, out: F.sigmoid(x) * (1.0 + x * (1.0 - F.sigmoid(x))),
    domain=(_MID,),
)  # fmt: skip
mish = Primitive(
    "mish", 1, lambda x: x * math.tanh(_log1p_exp(x)), lambda F, x, out: _mish_slope(F, x), domain=(_MID,)
)
softsign = Primitive(
    "softsign",
    1,
    lambda x: x / (1.0 + abs(x)),
    lambda F, x, out: 1.0 / ((1.0 + abs(x)) * (1.0 + abs(x))),  # not ** 2: float pow raises past 1e154
    domain=(_NOT_ZERO,),
)
hardtanh = hardtanh_of()
relu6 = Primitive(
    "relu6", 1, lambda x: _clip(x, 0.0, 6.0), lambda F, x, out: _inside(F.value(x), 0.0, 6.0, False),
    domain=_between(0.0, 6.0),
)  # fmt: skip
hardsigmoid = Primitive(
    "hardsigmoid", 1,
    lambda x: _clip(x + 3.0, 0.0, 6.0) / 6.0,
    lambda F, x, out: _inside(F.value(x), -3.0, 3.0, False) / 6.0,
    domain=(_HARD,),
)  # fmt: skip
hardswish = Primitive(
    "hardswish", 1,
    _hardswish,
    lambda F, x, out: 0.0 if F.value(x) <= -3.0 else (1.0 if F.value(x) >= 3.0 else x / 3.0 + 0.5),
    domain=(_HARD,),
)  # fmt: skip
clamp = clamp_of()
# x below, between and above its bounds, never within 0.5 of one (the kinks)
_LOW, _HIGH = ((-1.5, -1.0),), ((1.0, 1.5),)
_OUTSIDE, _AROUND = ((-3.0, -2.0), (2.0, 3.0)), ((-3.0, -2.0), (-0.5, 0.5), (2.0, 3.0))
clamp_min = Primitive("clamp_min", 2, _clamp_min, _clamp_min_partials, domain=(_OUTSIDE, _LOW))
clamp_max = Primitive("clamp_max", 2, _clamp_max, _clamp_max_partials, domain=(_OUTSIDE, _HIGH))
clamp_min_max = Primitive("clamp_min_max", 3, _clip, _clamp_min_max_partials, domain=(_AROUND, _LOW, _HIGH))

register(sigmoid, relu, softplus, leaky_relu, elu, selu, celu, gelu, silu, mish, softsign)
register(hardtanh, relu6, hardsigmoid, hardswish, clamp, clamp_min, clamp_max, clamp_min_max)
