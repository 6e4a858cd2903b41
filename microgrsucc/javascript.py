"""A JavaScript printer of the compiler's expression tree, for the living page.

Each op of a graph becomes ``{f: (x, y) => forward, d: (x, y, out) => [partials]}``, printed
from the trees ``compiler.tree.derive`` builds from the op's table entry: no op is written a
second time by hand, so a custom op or an op appended to the table works in the page too.
JavaScript's numbers are IEEE doubles as Python's floats are; where Python raises (a domain
check the tree holds as ``Raise``) the printed code calls ``fail()``, which throws.

An op whose forward or partials cannot be derived as a tree (a custom op calling foreign
code), or that calls a function JavaScript's ``Math`` lacks (``erf``), is not printable:
``NotPrintable`` says which, and the page falls back to replaying the recorded numbers.

>>> from microgrsucc import ops
>>> print(op_object(ops.PRIMITIVES["tanh"]))
{f: (x) => Math.tanh(x), d: (x, out) => [(1.0 - (out * out))]}
"""

from __future__ import annotations

import json
import math

from microgrsucc import formula
from microgrsucc.compiler import tree as T
from microgrsucc.ops import Primitive

__all__ = ["NotPrintable", "expression", "op_object"]

# math's functions that Math has under the same meaning.
_MATH = {
    name: f"Math.{name}"
    for name in (
        "exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh",
        "tanh", "asinh", "acosh", "atanh", "log1p", "expm1", "log2", "log10", "hypot", "floor", "ceil",
        "cbrt", "trunc",
    )
}  # fmt: skip
# Python's pow, where Math.pow differs: 1 ** y is 1 even for y NaN or ±inf, (-1) ** ±inf is 1.
_POW = "((a, b) => (a === 1 || (a === -1 && Math.abs(b) === Infinity) ? 1 : Math.pow(a, b)))"
_MATH.update(
    fabs="Math.abs",
    pow=_POW,
    isfinite="Number.isFinite",
    isnan="Number.isNaN",
    is_integer="Number.isInteger",
    isinf="((v) => v === Infinity || v === -Infinity)",
    copysign="((a, b) => (b < 0 || Object.is(b, -0) ? -Math.abs(a) : Math.abs(a)))",
)
# Python's operators JavaScript writes otherwise: ** is Math.pow; // floors; % takes the sign of
# the divisor (JavaScript's % takes the dividend's, as C's fmod).
# Both are CPython's float_floor_div and float_rem: a zero remainder takes the divisor's sign
# (-0.0 % 4.9 is 0.0), and // is (a - a % b) / b rounded, not floor(a / b), which rounds the
# quotient first (1 // 0.1 is 9, floor(1 / 0.1) is 10; inf // 4 is nan; 1 // -inf is -1).
_PYTHON = {
    "**": _POW,
    "//": (
        "((a, b) => { const m = a % b; let q = (a - m) / b;"
        " if (m !== 0 && (b < 0) !== (m < 0)) q -= 1;"
        " if (q !== 0) { const f = Math.floor(q); return q - f > 0.5 ? f + 1 : f; }"
        " return a / b < 0 || Object.is(a / b, -0) ? -0 : 0; })"
    ),
    "%": (
        "((a, b) => { const r = a % b;"
        " return r !== 0 ? ((r < 0) !== (b < 0) ? r + b : r) : (b < 0 || Object.is(b, -0) ? -0 : 0); })"
    ),
}
# Python's math functions raise where Math's give a number (CPython's math_1): a NaN from a
# number (sin(inf), ValueError) or an infinity from a finite number (exp(710), OverflowError).
# The page must refuse such an edit as Python would, not show inf.
_RAISING = frozenset(
    ("exp", "expm1", "sinh", "cosh", "sin", "cos", "tan", "asin", "acos", "acosh", "atanh", "log",
     "log1p", "log2", "log10", "sqrt")
)  # fmt: skip
_COMPARE = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "===", "!=": "!=="}


def _string(text: str) -> str:
    """A JavaScript string literal that cannot end the page's script (no ``</script>``)."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e")


class NotPrintable(Exception):
    """The op cannot be printed in JavaScript: the message says why."""


def op_object(op: Primitive) -> str:
    """The op as a JavaScript object literal ``{f: forward, d: partials}`` (see the module doc).

    Raises:
        NotPrintable: the op's forward or partials are no tree, or use a function ``Math`` lacks.
    """
    derived = formula.derived(op)
    if derived.forward is None or derived.partials is None:
        raise NotPrintable(f"the op {op.name!r} runs code that cannot be written as a tree")
    names = ", ".join(s.name for s in T.arguments(op.arity))
    partials = ", ".join(expression(p, op.name) for p in derived.partials)
    return f"{{f: ({names}) => {expression(derived.forward, op.name)}, d: ({names}, out) => [{partials}]}}"


def expression(n: T.Node, op: str = "?") -> str:
    """One tree as a JavaScript expression, fully parenthesised (``op`` names it in errors)."""
    if isinstance(n, T.Const):
        v = n.value
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "(-Infinity)"
        return repr(v) if v >= 0 and repr(v) != "-0.0" else f"({v!r})"
    if isinstance(n, T.Symbol):
        return n.name
    if isinstance(n, T.Call):
        fn = _MATH.get(n.fn)
        if fn is None:
            raise NotPrintable(f"the op {op!r} calls {n.fn}, which JavaScript's Math does not have")
        args = ", ".join(expression(a, op) for a in n.args)
        if n.fn in _RAISING:
            return (
                f"((v) => {{ const r = {fn}(v); return (r !== r && v === v) || "
                f"(Number.isFinite(v) && !Number.isFinite(r)) ? fail({_string(op)}) : r; }})({args})"
            )
        return f"{fn}({args})"
    if isinstance(n, T.Unary):
        inner = expression(n.a, op)
        return f"(-{inner})" if n.op == "neg" else f"Math.abs({inner})"
    if isinstance(n, T.Binary):
        a, b = expression(n.a, op), expression(n.b, op)
        if n.op in _PYTHON:
            return f"{_PYTHON[n.op]}({a}, {b})"
        return f"({a} {n.op} {b})"
    if isinstance(n, T.Compare):
        return f"({expression(n.a, op)} {_COMPARE[n.op]} {expression(n.b, op)})"
    if isinstance(n, T.Select):
        return f"({expression(n.cond, op)} ? {expression(n.yes, op)} : {expression(n.no, op)})"
    if isinstance(n, T.Raise):
        return f"fail({_string(op)})"
    raise NotPrintable(f"the op {op!r} has a tree node JavaScript has no form for: {n!r}")
