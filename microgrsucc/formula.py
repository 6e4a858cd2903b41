# ruff: noqa: RUF001, RUF002  -- the formulas print the minus sign U+2212 and the dot U+00B7
"""The chain rule with symbolic local derivatives: d(root)/d(leaf) as the chapter writes it.

``formula(root, leaf)`` walks every path from ``leaf`` up to ``root`` (as ``explain.chain_rule``
does) and multiplies, along each, the *symbolic* local derivative of each op: the partial of
its table entry, derived as a tree by the compiler (``compiler.tree.derive``), with the op's
operands and output put in for its symbols. Labels name the symbols; an unlabelled result of
an op is written as its expression; a constant as its number. The product is tidied as by
hand: factors of 1 dropped, the numbers folded into one, ``-(y - a2)`` written ``(a2 - y)``.

>>> from microgrsucc.cli.chapter import DEFAULTS, network
>>> net = network(**DEFAULTS)
>>> print(formula(net.C, net.w1))
∂C/∂w1 = (a2 − y) · a2(1 − a2) · w2 · a1(1 − a1) · a0

The formula is a tree (``Formula.terms``) with two printers here, Unicode text (``str``) and
LaTeX (``latex``, and ``_repr_latex_`` for notebooks); ``evaluate`` computes it at the graph's
values, which is ``leaf.grad`` after one ``root.backward()``.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from microgrsucc import ops
from microgrsucc.compiler import tree as T
from microgrsucc.explain import MAX_PATHS, Graph, chain_rule, changed, label_text, short, wrap
from microgrsucc.ops import Primitive
from microgrsucc.value import Value

__all__ = ["Formula", "Symbols", "derived", "evaluate", "formula", "local_derivative", "to_text"]

_INFIX = ("+", "-", "*", "/", "**")
_ARITHMETIC: dict[str, Callable[[float, float], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": operator.pow, "//": operator.floordiv, "%": operator.mod,
}  # fmt: skip
_MATH: dict[str, Callable[..., Any]] = {"abs": abs, "is_integer": float.is_integer}


@dataclass(frozen=True)
class Formula:
    """d(root)/d(leaf): a sum over paths of ``coefficient × product of factors``.

    ``terms`` holds one ``(coefficient, factors)`` per path, the factors being trees
    (``compiler.tree`` nodes) whose symbols are labels; ``values`` gives each symbol's value.
    """

    root: str
    leaf: str
    terms: tuple[tuple[float, tuple[T.Node, ...]], ...]
    values: dict[str, float]

    def evaluate(self) -> float:
        """The formula at the graph's values: d(root)/d(leaf), ``leaf.grad`` after ``backward()``."""
        return math.fsum(c * math.prod(evaluate(f, self.values) for f in fs) for c, fs in self.terms)

    def __str__(self) -> str:
        return f"∂{self.root}/∂{self.leaf} = {_sum(self.terms, _text, ' · ')}"

    def latex(self) -> str:
        """The formula in LaTeX (math mode, without the dollars)."""
        lhs = rf"\frac{{\partial {_latex_name(self.root)}}}{{\partial {_latex_name(self.leaf)}}}"
        return f"{lhs} = {_sum(self.terms, _latex, _CDOT)}"

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"


def formula(root: Value, leaf: Value, *, graph: Graph | None = None) -> Formula:
    """The chain rule for ``leaf`` with symbolic local derivatives, summed over the paths.

    Args:
        root: the Value differentiated (the loss).
        leaf: a Value of the graph below ``root`` (usually a parameter or an input).
        graph: ``explain.Graph(root)``, for a caller asking about many nodes of one graph.

    Returns:
        A ``Formula``: ``str()`` prints it, ``evaluate()`` computes it.

    Raises:
        ValueError: ``leaf`` is not in the graph below ``root``.
    """
    graph = Graph(root) if graph is None else graph
    rule = chain_rule(root, leaf, graph=graph)
    if rule.count and not rule.paths:
        raise ValueError(
            f"{rule.count} paths lead from {rule.names[leaf]} up to the root: more than "
            f"explain.MAX_PATHS ({MAX_PATHS}) to write out"
        )
    symbols = Symbols(graph.names)
    terms = tuple(
        _tidy([local_derivative(consumer, k, symbols) for consumer, k in path]) for path in rule.paths
    )
    return Formula(_name(root, rule.names[root]), _name(leaf, rule.names[leaf]), terms, symbols.values)


class Symbols:
    """How formulas write a graph's nodes, and the value of each symbol they use.

    A labelled node is its label; a leaf without one its number; an unlabelled result of an
    op its expression (``w1*a0``, ``sigmoid(z2)``), or, where ``names`` (``explain.names``)
    found that too long, its short name ``#N``, a symbol of its own.
    """

    def __init__(self, names: dict[Value, str]) -> None:
        self.names = names
        self.values: dict[str, float] = {}

    def of(self, node: Value) -> T.Node:
        """The tree that stands for ``node``."""
        text = label_text(node)
        if text is None and node.is_leaf:
            return T.Const(node.data)
        if text is None and not self.names.get(node, "#").startswith("#") and not changed(node):
            return self.expression(node)
        # A symbol of its own: a label, #N, or an op whose constants a tree cannot say
        # (leaky_relu(x, negative_slope=0.2) is not the table's leaky_relu of x).
        name = text or self.names.get(node, "#?")
        self.values[name] = node.data
        return T.Symbol(name)

    def expression(self, node: Value) -> T.Node:
        """What an op computes, written with its operands' symbols: ``w1*a0``, ``sigmoid(z2)``."""
        op = node.primitive
        assert op is not None
        args = [self.of(p) for p in node.inputs]
        if op.name in _INFIX and len(args) == 2:
            return T.Binary(op.name, args[0], args[1])
        if op.name == "neg":
            return T.Unary("neg", args[0])
        if op.name.startswith("**"):  # a constant power: its exponent is part of the op
            return T.Binary("**", args[0], T.Const(float(op.name[2:])))
        return T.Call(op.name, tuple(args))


def local_derivative(consumer: Value, k: int, symbols: Symbols) -> T.Node:
    """∂consumer/∂(its input k) as a tree of symbols, the branch taken at the recorded values.

    Where the op's derivative cannot be derived as a tree (a custom op of foreign code), the
    factor is a symbol ``∂out/∂in`` whose value is the number ``local_grads()`` gives.
    """
    op = consumer.primitive
    assert op is not None
    partials = derived(op).partials
    if partials is None:
        out, x = (symbols.names.get(v, "?") for v in (consumer, consumer.inputs[k]))
        name = f"∂{wrap(out)}/∂{wrap(x)}"  # as the chain rule in numbers writes it
        symbols.values[name] = consumer.local_grads()[k]
        return T.Symbol(name)
    recorded = {"out": consumer.data}
    binding: dict[str, T.Node] = {"out": symbols.of(consumer)}
    for symbol, p in zip(T.arguments(len(consumer.inputs)), consumer.inputs, strict=True):
        recorded[symbol.name] = p.data
        binding[symbol.name] = symbols.of(p)
    return _substitute(_taken(partials[k], recorded), binding)


def evaluate(n: T.Node, values: dict[str, float]) -> float:
    """A tree's value, with ``values`` for its symbols (Python's float semantics)."""
    if isinstance(n, T.Const):
        return n.value
    if isinstance(n, T.Symbol):
        return values[n.name]
    if isinstance(n, T.Select):
        return evaluate(n.yes if evaluate(n.cond, values) else n.no, values)
    if isinstance(n, T.Raise):
        raise ArithmeticError("the op's function raises at these values")
    parts = [evaluate(c, values) for c in T.children(n)]
    if isinstance(n, T.Binary):
        a, b = parts
        if n.op in ("/", "//", "%") and b == 0.0:
            raise ArithmeticError(f"{n.op} by zero")  # where the tree's Raise would stop Python too
        return float(_ARITHMETIC[n.op](a, b))
    if isinstance(n, T.Compare):
        a, b = parts
        return float({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[n.op])
    if isinstance(n, T.Unary):
        return -parts[0] if n.op == "neg" else abs(parts[0])
    if isinstance(n, T.Call):
        fn: Callable[..., Any] | None = _MATH.get(n.fn) or getattr(math, n.fn, None)
        if fn is None:  # an op of the table written by name in an expression: sigmoid(z2)
            fn = ops.PRIMITIVES[n.fn].forward
        return float(fn(*parts))
    raise TypeError(f"not a tree node: {n!r}")


@functools.lru_cache(maxsize=512)  # 0.3 ms for sigmoid, 3 ms for **: once per op is enough
def derived(op: Primitive) -> T.Derived:
    """``compiler.tree.derive(op)``; for a custom op, of the user's own forward and derivative
    (``custom_op`` wraps them in checks of their results, which the tree cannot run on symbols)."""
    forward = inspect.unwrap(op.forward)
    derivative = inspect.unwrap(op.derivative) if callable(op.derivative) else op.derivative
    if forward is op.forward and derivative is op.derivative:
        return T.derive(op)
    own = T.derive(Primitive(op.name, op.arity, forward, derivative))
    return T.Derived(op, own.forward, own.partials)


# --- tidying a product as by hand ---------------------------------------------------------------


def _taken(n: T.Node, recorded: dict[str, float]) -> T.Node:
    """``n`` with each ``Select`` replaced by the branch taken at the recorded values."""
    if isinstance(n, T.Select):
        return _taken(n.yes if evaluate(n.cond, recorded) else n.no, recorded)
    parts = T.children(n)
    return T.rebuild(n, [_taken(c, recorded) for c in parts]) if parts else n


def _substitute(n: T.Node, binding: dict[str, T.Node]) -> T.Node:
    if isinstance(n, T.Symbol):
        return binding.get(n.name, n)
    parts = T.children(n)
    return _fold(T.rebuild(n, [_substitute(c, binding) for c in parts])) if parts else n


def _fold(n: T.Node) -> T.Node:
    """Numbers computed, and ``x**1``, ``1*x``, ``x*1``, ``x/1``, ``x+0`` written as ``x``."""
    if isinstance(n, T.Binary):
        a, b = n.a, n.b
        if isinstance(a, T.Const) and isinstance(b, T.Const):
            return T.Const(evaluate(n, {}))
        one_b = isinstance(b, T.Const) and b.value == 1.0
        if n.op in ("*", "/", "**") and one_b:
            return a
        if n.op == "*" and isinstance(a, T.Const) and a.value == 1.0:
            return b
        if n.op in ("+", "-") and isinstance(b, T.Const) and b.value == 0.0:
            return a
    if isinstance(n, T.Unary) and n.op == "neg" and isinstance(n.a, T.Const):
        return T.Const(-n.a.value)
    return n


def _tidy(factors: list[T.Node]) -> tuple[float, tuple[T.Node, ...]]:
    """One path's product: its numbers multiplied into a coefficient, the rest in path order."""
    coefficient, kept = 1.0, []
    stack = list(reversed(factors))
    while stack:
        f = stack.pop()
        if isinstance(f, T.Const):
            coefficient *= f.value
        elif isinstance(f, T.Unary) and f.op == "neg":
            coefficient, stack = -coefficient, [*stack, f.a]
        elif isinstance(f, T.Binary) and f.op == "*" and isinstance(f.a, T.Const):
            coefficient, stack = coefficient * f.a.value, [*stack, f.b]
        else:
            kept.append(f)
    if coefficient == -1.0:  # -(y - a2) reads better as (a2 - y)
        for i, f in enumerate(kept):
            if isinstance(f, T.Binary) and f.op == "-":
                kept[i], coefficient = T.Binary("-", f.b, f.a), 1.0
                break
    return coefficient, tuple(kept)


def _name(node: Value, fallback: str) -> str:
    return label_text(node) or fallback


# --- the printers: Unicode text and LaTeX --------------------------------------------------------

_CDOT = r" \cdot "
_BINDS = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4}


def _sum(terms: tuple[tuple[float, tuple[T.Node, ...]], ...], printer: Callable[..., str], times: str) -> str:
    if not terms:
        return "0"
    out: list[str] = []
    for coefficient, factors in terms:
        parts = [printer(f, 2, factor=len(factors) > 1 or coefficient != 1.0) for f in factors]
        if coefficient != 1.0 or not parts:
            parts.insert(0, short(coefficient) if coefficient >= 0 or not out else f"({short(coefficient)})")
        out.append(times.join(parts))
    return " + ".join(f"[{t}]" if len(terms) > 1 else t for t in out)


def to_text(n: T.Node) -> str:
    """A tree as the formulas print it: ``a2(1 − a2)``, ``exp(x)``, ``1/(x + 1)``."""
    return _text(n, 0)


def _text(n: T.Node, outer: int, *, factor: bool = False) -> str:
    """Unicode: ``a2(1 − a2)``, ``(a2 − y)``, ``exp(x)``; parentheses by binding strength."""
    if isinstance(n, T.Const):
        return short(n.value) if n.value >= 0 else f"({short(n.value).replace('-', '−')})"
    if isinstance(n, T.Symbol):
        return n.name
    if isinstance(n, T.Call):
        return f"{n.fn}({', '.join(_text(a, 0) for a in n.args)})"
    if isinstance(n, T.Unary):
        return f"−{_text(n.a, 3)}" if n.op == "neg" else f"|{_text(n.a, 0)}|"
    if isinstance(n, T.Binary):
        strength = _BINDS[n.op]
        a, b = _text(n.a, strength), _text(n.b, strength + (n.op != "**"))
        if n.op == "*":
            text = f"{a}{b}" if b.startswith("(") else f"{a}·{b}"
        else:
            text = f"{a}{n.op}{b}" if n.op in ("/", "**") else f"{a} {n.op.replace('-', '−')} {b}"
        return f"({text})" if strength < outer or (factor and n.op in ("+", "-")) else text
    return "?"


def _latex_name(name: str) -> str:
    head = name.rstrip("0123456789")
    if head and head != name and head.isalpha():
        return f"{head}_{{{name[len(head) :]}}}"
    return name if name.isalpha() and len(name) == 1 else rf"\mathrm{{{name}}}"


def _latex(n: T.Node, outer: int, *, factor: bool = False) -> str:
    if isinstance(n, T.Const):
        return short(n.value) if n.value >= 0 else f"({short(n.value)})"
    if isinstance(n, T.Symbol):
        return _latex_name(n.name)
    if isinstance(n, T.Call):
        return rf"\operatorname{{{n.fn}}}\left({', '.join(_latex(a, 0) for a in n.args)}\right)"
    if isinstance(n, T.Unary):
        return f"-{_latex(n.a, 3)}" if n.op == "neg" else rf"\left|{_latex(n.a, 0)}\right|"
    if isinstance(n, T.Binary):
        strength = _BINDS[n.op]
        if n.op == "/":
            return rf"\frac{{{_latex(n.a, 0)}}}{{{_latex(n.b, 0)}}}"
        a, b = _latex(n.a, strength), _latex(n.b, strength + (n.op != "**"))
        text = {
            "*": f"{a} {b}",
            "**": f"{{{a}}}^{{{_latex(n.b, 0)}}}",
            "//": rf"\left\lfloor {a} / {b} \right\rfloor",
            "%": rf"{a} \bmod {b}",
        }.get(n.op, f"{a} {n.op} {b}")
        return rf"\left({text}\right)" if strength < outer or (factor and n.op in ("+", "-")) else text
    return "?"
