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
_MATH.update(
    fabs="Math.abs",
    pow="Math.pow",
    isfinite="Number.isFinite",
    isnan="Number.isNaN",
    is_integer="Number.isInteger",
    isinf="((v) => v === Infinity || v === -Infinity)",
    copysign="((a, b) => (b < 0 || Object.is(b, -0) ? -Math.abs(a) : Math.abs(a)))",
)
# Python's operators JavaScript writes otherwise: ** is Math.pow; // floors; % takes the sign of
# the divisor (JavaScript's % takes the dividend's, as C's fmod).
_PYTHON = {
    "**": "Math.pow",
    "//": "((a, b) => Math.floor(a / b))",
    "%": "((a, b) => { const r = a % b; return r !== 0 && (r < 0) !== (b < 0) ? r + b : r; })",
}
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
        return f"{fn}({', '.join(expression(a, op) for a in n.args)})"
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
