"""A safe parser for arithmetic expressions typed by a user, evaluated with Values.

The grammar: numbers, the constants ``pi`` and ``e``, variable names, ``+ - * / **``, unary
minus (and plus), parentheses and calls of the table's ops (``exp(x)``, ``atan2(y, x)``,
``maximum(x, 0)``), an op with constants taking them as number literals by name
(``leaky_relu(x, negative_slope=0.2)``, ``gelu(x, approximate="tanh")``). The text is parsed
with ``ast`` and every node checked against that grammar; nothing is ever passed to ``eval``.

>>> e = parse("tanh(x * y) + 1")
>>> e.variables
('x', 'y')
>>> e.evaluate({"x": 0.0, "y": 2.0}).data
1.0
>>> parse("sin(pi * x)").variables
('x',)
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import SupportsFloat, cast

from microgrsucc import functions, ops
from microgrsucc.core import op_error
from microgrsucc.value import Value

__all__ = ["CONSTANTS", "FUNCTIONS", "MAX_DEPTH", "Expression", "ExpressionError", "parse"]

MAX_DEPTH = 1000
"""How deeply an expression may nest (``1+1+...`` of 1000 terms). Python's own parser gives up
somewhere between 1000 and 10,000 levels depending on its version; this limit is the same on all."""

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Names an expression may use as numbers (as in ``math``); they are not variables."""

FUNCTIONS: dict[str, Callable[..., Value]] = dict(functions.FUNCTIONS)
"""The functions an expression may call: the table's ops named like identifiers."""

_BINARY: dict[type[ast.operator], Callable[[Value, Value], Value]] = {
    ast.Add: Value.__add__,
    ast.Sub: Value.__sub__,
    ast.Mult: Value.__mul__,
    ast.Div: Value.__truediv__,
}

# What a rejected node is called in the error message.
_NAMES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Slice: "a slice",
    ast.Lambda: "a lambda",
    ast.IfExp: "a conditional expression",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "an assignment",
    ast.Starred: "a starred argument",
    ast.Await: "await",
}

_OPERATORS: dict[type[ast.AST], str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^ (for powers write **)",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Not: "not",
}


class ExpressionError(ValueError):
    """The text is not an expression of the grammar, or a variable has no value."""


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, its syntax tree and its variables in order of appearance."""

    text: str
    tree: ast.expr
    variables: tuple[str, ...]

    def evaluate(self, values: Mapping[str, Value | SupportsFloat]) -> Value:
        """The expression's Value, built from ``values`` (a Value or a number per variable).

        Numbers become Values before any arithmetic, so ``10**10**10`` raises the engine's
        ``OverflowError`` (naming the op) instead of computing a huge Python int.
        """
        env: dict[str, Value] = {}
        for name in self.variables:
            if name not in values:
                raise ExpressionError(f"the variable {name} has no value")
            v = values[name]
            env[name] = v if isinstance(v, Value) else Value(v, label=name)
        return _evaluate(self.tree, env)


# A number written against a name, as in 2x or 0.5pi: the multiplication a reader means
# (not 2e3x, where the e is an exponent).
_JUXTAPOSED = re.compile(r"(?<![\w.])(\d+\.?\d*|\.\d+)(?![eE][+-]?\d)([A-Za-z_]\w*)")


def _times_hint(text: str) -> str:
    found = _JUXTAPOSED.search(text)
    if found is None:
        return ""
    number, name = found.groups()
    return f"; write {number}*{name} for {number} times {name}"


def parse(text: str) -> Expression:
    """Parse and check ``text``; ``ExpressionError`` says what is wrong and where."""
    if not text.strip():
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        if "integer string conversion" in str(err.msg):  # Python's digit limit for int literals
            raise ExpressionError("a number in the expression is too large for a float") from None
        where = f" at column {err.offset}" if err.offset else ""
        if err.lineno and err.lineno > 1:
            where = f" on line {err.lineno}{where}"
        raise ExpressionError(f"syntax error{where}: {err.msg}{_times_hint(text)}") from None
    except ValueError as err:  # null bytes, integer literals of thousands of digits
        raise ExpressionError(f"invalid expression: {err}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply") from None
    names: list[ast.Name] = []
    called: set[int] = set()  # the Name nodes that are a call's function
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:  # parents before children, iteratively, each node once: linear in the text
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
        _check(node, text)
        if isinstance(node, ast.Name):
            names.append(node)
        elif isinstance(node, ast.Call):
            called.add(id(node.func))
            # A constant's literal was checked with its call: only the operands are expressions.
            stack.extend((child, depth + 1) for child in [node.func, *node.args])
            continue
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    for name in names:
        if name.id in FUNCTIONS and id(name) not in called:
            raise ExpressionError(f"{name.id} is a function: write {name.id}(...)")
    # The walk goes depth first, right to left; list the variables in the order they are written.
    written = sorted(
        (n.lineno, n.col_offset, n.id) for n in names if id(n) not in called and n.id not in CONSTANTS
    )
    return Expression(text, tree, tuple(dict.fromkeys(name for _, _, name in written)))


def _show(node: ast.AST, text: str) -> str:
    segment = ast.get_source_segment(text.strip(), node)
    return f" ({segment})" if segment and len(segment) <= 40 else ""


def _check(node: ast.AST, text: str) -> None:
    """Reject a node outside the grammar, with a message naming it."""
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        op = node.op
        if isinstance(op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)):
            return
        raise ExpressionError(
            f"the operator {_OPERATORS.get(type(op), type(op).__name__)} is not allowed: use + - * / **"
        )
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a string" if isinstance(value, (str, bytes)) else repr(value)
            raise ExpressionError(
                f"{kind} is not allowed in an expression, only real numbers{_show(node, text)}"
            )
        if not math.isfinite(_to_float(value)):
            # Only now find the literal's text: get_source_segment scans the whole text each call.
            written = ast.get_source_segment(text.strip(), node) or repr(value)
            shown = written if len(written) <= 20 else f"{written[:12]}... ({len(written)} characters)"
            raise ExpressionError(f"the number {shown} is too large for a float")
        return
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExpressionError(f"names starting with an underscore are not allowed ({node.id})")
        return
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Name):
            raise ExpressionError(f"only calls of {_function_list()} are allowed{_show(node, text)}")
        if func.id not in FUNCTIONS:
            raise ExpressionError(f"unknown function {func.id}: the functions are {_function_list()}")
        entry = ops.PRIMITIVES[func.id]
        names = entry.parameters if isinstance(entry, ops.Parametric) else ()
        if len(node.args) != entry.arity or any(isinstance(a, ast.Starred) for a in node.args):
            # clamp(x, 0, 1) as in torch: say that the constants go by name
            named = f"; its constants go by name: {func.id}(x, {'=..., '.join(names)}=...)" if names else ""
            raise ExpressionError(
                f"{func.id}() takes exactly {_count(entry.arity)}{named}{_show(node, text)}"
            )
        for keyword in node.keywords:
            if keyword.arg not in names:
                takes = f"only the constants {', '.join(names)}" if names else "no constants"
                raise ExpressionError(f"{func.id}() takes {takes}{_show(node, text)}")
            if _constant(keyword.value) is None:
                raise ExpressionError(
                    f"{func.id}(): the constant {keyword.arg} must be a number or a string{_show(node, text)}"
                )
        return
    if isinstance(node, ast.operator | ast.unaryop | ast.expr_context):
        return  # checked with their BinOp/UnaryOp; Load is the context of every Name
    what = _NAMES.get(type(node), type(node).__name__)
    raise ExpressionError(f"{what} is not allowed in an expression{_show(node, text)}")


def _function_list() -> str:
    return ", ".join(sorted(FUNCTIONS))


def _count(arity: int) -> str:
    return "one argument" if arity == 1 else f"{arity} arguments"


def _constant(node: ast.expr) -> float | str | None:
    """A constant of an op written as a literal: a number (``-0.2``) or a string (``"tanh"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return None
    number = node
    while isinstance(number, ast.UnaryOp) and isinstance(number.op, (ast.USub, ast.UAdd)):
        number = number.operand
    if not (isinstance(number, ast.Constant) and isinstance(number.value, (int, float))):
        return None
    return _literal(node)


def _to_float(value: float) -> float:
    """A literal as a float: inf for one too large for a float (``1e999``, a 400-digit int)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _literal(node: ast.expr) -> float | None:
    """The number a node writes directly (``2``, ``-0.5``), else None."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    # parse() has checked every literal is a real number that fits a float.
    return sign * float(cast(float, node.value)) if isinstance(node, ast.Constant) else None


def _evaluate(tree: ast.expr, env: Mapping[str, Value]) -> Value:
    """Evaluate a checked tree, in post-order with an explicit stack (no recursion limit)."""
    results: dict[ast.AST, Value] = {}
    stack: list[tuple[ast.expr, bool]] = [(tree, False)]
    while stack:
        node, children_done = stack.pop()
        number = _literal(node)
        if number is not None:
            results[node] = Value(number)
        elif isinstance(node, ast.Name):
            constant = CONSTANTS.get(node.id)
            results[node] = env[node.id] if constant is None else Value(constant, label=node.id)
        elif not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in _operands(node))
        else:
            results[node] = _apply(node, results)
    return results[tree]


def _operands(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp):
        # A literal exponent is part of the op (x**2 is one "**2" node), not an operand.
        if isinstance(node.op, ast.Pow) and _literal(node.right) is not None:
            return [node.left]
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    assert isinstance(node, ast.Call)
    return list(node.args)


def _apply(node: ast.expr, results: Mapping[ast.AST, Value]) -> Value:
    if isinstance(node, ast.UnaryOp):
        x = results[node.operand]
        if isinstance(node.op, ast.UAdd):
            return x
        out = -x
    elif isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        constants = {k.arg: _constant(k.value) for k in node.keywords if k.arg}
        try:
            out = FUNCTIONS[node.func.id](*[results[a] for a in node.args], **constants)
        except TypeError as err:  # constants the op refuses (clamp with no bound)
            raise ExpressionError(str(err)) from None
    else:
        assert isinstance(node, ast.BinOp)
        left = results[node.left]
        if isinstance(node.op, ast.Pow):
            exponent = _literal(node.right)
            out = left ** (results[node.right] if exponent is None else exponent)
        else:
            out = _BINARY[type(node.op)](left, results[node.right])
    if math.isinf(out.data) and not any(math.isinf(x.data) for x in out.inputs):
        # Float arithmetic overflows to inf silently (1e308 * 10); say so as the engine would.
        raise op_error(out._op, OverflowError(), *(x.data for x in out.inputs))  # type: ignore[arg-type]
    return out
