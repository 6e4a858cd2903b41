"""Each op's code, derived from the table by running its forward and derivative on symbols.

A ``Sym`` is an expression whose operators build source text, so ``operator.mul(x, y)``
gives ``(x * y)`` and a derivative ``lambda F, x, y, out: (y, x)`` gives the two partials.
A table function that branches (``0.0 if x <= 0.0 else x``) is run once per path: each
comparison of a symbol is a branch point, and the paths become a decision tree that the
backends write as a conditional expression, so the generated code branches per sample
exactly where the table's function does (NaN falls through the same way). A path that
raises (a domain check) becomes a leaf ``RAISE``, where generated code stops and the
sample is replayed by the eager engine, which raises its own error.

Functions of the table's module are run with ``math``, ``float``, ``abs`` and ``FLOAT``
replaced by symbolic versions (a copy of the function with other globals; the table is
not touched). What cannot be run on symbols (a user's custom op calling ``math.log1p`` on
a float) gives ``None``: the backends then call the table's own function.
"""

from __future__ import annotations

import builtins
import math
import operator
import threading
import types
from collections.abc import Callable
from typing import Any

from microgrsucc import ops
from microgrsucc.ops import Primitive

__all__ = ["RAISE", "Branch", "OpCode", "Sym", "Tree", "derive", "literal", "placeholder"]


class NotSymbolic(Exception):
    """A symbol was made a plain number, or met a function that only takes numbers."""


class _Raise:
    def __repr__(self) -> str:
        return "RAISE"


RAISE: Any = _Raise()
"""A leaf of a decision tree where the table's function raises (a domain check)."""


class Branch:
    """``yes if cond else no``: one comparison of the table's function on symbols."""

    __slots__ = ("cond", "yes", "no")

    def __init__(self, cond: str, yes: Any, no: Any) -> None:
        self.cond, self.yes, self.no = cond, yes, no


# A decision tree: a Branch, or a leaf (a Sym, a float, RAISE, or a tuple of those).
Tree = Any


def literal(x: float) -> str:
    """A float as exact source text; ``inf`` and ``nan`` are names the backends bind."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "(-inf)"
    return repr(x) if x >= 0 else f"({x!r})"


def _src(x: Any) -> str:
    if isinstance(x, Sym):
        return x.src
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return literal(x)
    raise NotSymbolic(f"cannot write {type(x).__name__} as code")


class _Paths:
    """The branch decisions of the path being run: a prefix to follow, then True."""

    def __init__(self, prefix: list[bool]) -> None:
        self.prefix = prefix
        self.taken: list[tuple[str, bool]] = []

    def decide(self, cond: str) -> bool:
        i = len(self.taken)
        choice = self.prefix[i] if i < len(self.prefix) else True
        self.taken.append((cond, choice))
        if len(self.taken) > 12:
            raise NotSymbolic("too many branches")
        return choice


_paths: list[_Paths] = []  # the path being explored (derivation runs in one thread at a time)


class Cond:
    """A comparison of symbols: its truth is a branch point of the path explorer."""

    __slots__ = ("src",)

    def __init__(self, src: str) -> None:
        self.src = src

    def __bool__(self) -> bool:
        if not _paths:
            raise NotSymbolic("a comparison outside a derivation")
        return _paths[-1].decide(self.src)


_Method = Callable[[Any, Any], Any]


def _binary(symbol: str) -> tuple[_Method, _Method]:
    def apply(a: Any, b: Any) -> Sym:
        return Sym(f"({_src(a)} {symbol} {_src(b)})")

    def reflected(a: Any, b: Any) -> Sym:
        return Sym(f"({_src(b)} {symbol} {_src(a)})")

    return apply, reflected


def _compare(symbol: str) -> _Method:
    return lambda a, b: Cond(f"({_src(a)} {symbol} {_src(b)})")


class Sym:
    """An expression in source text; operators on it build bigger expressions."""

    __slots__ = ("src",)
    __array_ufunc__ = None

    def __init__(self, src: str) -> None:
        self.src = src

    __add__, __radd__ = _binary("+")
    __sub__, __rsub__ = _binary("-")
    __mul__, __rmul__ = _binary("*")
    __truediv__, __rtruediv__ = _binary("/")
    __pow__, __rpow__ = _binary("**")
    __lt__, __le__ = _compare("<"), _compare("<=")
    __gt__, __ge__ = _compare(">"), _compare(">=")
    __eq__, __ne__ = _compare("=="), _compare("!=")
    __hash__ = None  # type: ignore[assignment]

    def __neg__(self) -> Sym:
        return Sym(f"(-{self.src})")

    def __pos__(self) -> Sym:
        return self

    def __abs__(self) -> Sym:
        return Sym(f"abs({self.src})")

    def __bool__(self) -> bool:
        return bool(Cond(f"({self.src} != 0.0)"))

    def __float__(self) -> float:
        raise NotSymbolic("a symbol made a float")

    def __index__(self) -> int:
        raise NotSymbolic("a symbol made an int")


def placeholder(name: str) -> Sym:
    return Sym(name)


class _SymMath:
    """``math`` on symbols: ``math.exp(x)`` is ``exp(x)``; constants stay numbers."""

    def __getattr__(self, name: str) -> Any:
        real = getattr(math, name)
        if not callable(real):
            return real  # math.inf, math.nan, math.pi

        def call(*args: Any) -> Any:
            if not any(isinstance(a, Sym) for a in args):
                return real(*args)
            if name in ("isfinite", "isnan", "isinf"):
                return Cond(f"{name}({', '.join(_src(a) for a in args)})")
            return Sym(f"{name}({', '.join(_src(a) for a in args)})")

        return call


def _sym_float(x: Any = 0.0) -> Any:
    return x if isinstance(x, Sym) else builtins.float(x)


def _sym_abs(x: Any) -> Any:
    return abs(x)


class _SymF:
    """The namespace ``F`` of derivatives, on symbols: ``F.cos(x)`` is cos's own forward code."""

    def value(self, x: Any) -> Any:
        return x

    def __getattr__(self, name: str) -> Any:
        op = ops.PRIMITIVES.get(name)
        if op is None:
            raise AttributeError(name)

        def apply(*args: Any) -> Any:
            tree = _explore(lambda: _run(op.forward, args))
            if not _is_leaf(tree) or tree is RAISE:
                raise NotSymbolic(f"{name} branches; not usable inside another op's code")
            return tree

        return apply


SYM_F = _SymF()
_SYM_MATH = _SymMath()
_REPLACED = {"math": _SYM_MATH, "float": _sym_float, "abs": _sym_abs}


def _with_symbolic_globals(fn: Any) -> Any:
    """A copy of a Python function whose ``math``/``float``/``abs``/``FLOAT`` are symbolic.

    Functions of the same module that it calls are copied too, so a derivative calling
    ``_power_partial`` runs that on symbols as well. Builtins are returned as they are.
    """
    if not isinstance(fn, types.FunctionType):
        return fn
    table = fn.__globals__
    # A fresh copy each time: the module's globals may have been rebound since the last op.
    new = dict(table)
    new.update(_REPLACED)
    if table.get("FLOAT") is ops.FLOAT:
        new["FLOAT"] = SYM_F
    for name, value in table.items():
        if isinstance(value, types.FunctionType) and value.__globals__ is table:
            new[name] = _copy(value, new)
    return _copy(fn, new)


def _copy(fn: types.FunctionType, new_globals: dict[str, Any]) -> types.FunctionType:
    return types.FunctionType(fn.__code__, new_globals, fn.__name__, fn.__defaults__, fn.__closure__)


# Forwards that are C functions: math's by name, and the operators Sym implements.
_OPERATORS = {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, operator.pow, abs}


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    if fn in _OPERATORS:
        return fn(*args)
    if isinstance(fn, types.BuiltinFunctionType) and getattr(math, fn.__name__, None) is fn:
        return getattr(_SYM_MATH, fn.__name__)(*args)
    if not isinstance(fn, types.FunctionType):
        raise NotSymbolic(f"{fn!r} is neither a Python function nor a known builtin")
    return _with_symbolic_globals(fn)(*args)


def _is_leaf(tree: Tree) -> bool:
    return not isinstance(tree, Branch)


def _explore(run: Callable[[], Any]) -> Tree:
    """Run ``run`` down every path of its comparisons; the results as a decision tree."""
    results: list[tuple[list[tuple[str, bool]], Any]] = []
    prefix: list[bool] = []
    while True:
        paths = _Paths(prefix)
        _paths.append(paths)
        try:
            result = _check(run())
        except NotSymbolic:
            raise
        except (ArithmeticError, ValueError):
            result = RAISE
        except Exception as err:  # the function used a symbol where only a number works
            raise NotSymbolic(str(err)) from None
        finally:
            _paths.pop()
        results.append((paths.taken, result))
        if len(results) > 16:
            raise NotSymbolic("too many paths")
        decisions = [choice for _, choice in paths.taken]
        while decisions and not decisions[-1]:
            decisions.pop()
        if not decisions:
            break
        prefix = [*decisions[:-1], False]
    return _tree(results, 0)


def _check(result: Any) -> Any:
    if isinstance(result, (tuple, list)):
        return tuple(_check(r) for r in result)
    if isinstance(result, (Sym, float, int)) and not isinstance(result, bool):
        return result
    raise NotSymbolic(f"a result of type {type(result).__name__}")


def _tree(results: list[tuple[list[tuple[str, bool]], Any]], depth: int) -> Tree:
    taken, result = results[0]
    if len(taken) == depth:
        return result
    cond = taken[depth][0]
    yes = [r for r in results if r[0][depth][1]]
    no = [r for r in results if not r[0][depth][1]]
    return Branch(cond, _tree(yes, depth + 1), _tree(no, depth + 1))


class OpCode:
    """An op's forward and partials as decision trees over ``_A0``, ``_A1``, ... and ``_OUT``.

    ``forward`` or ``partials`` is None where the table's function could not be run on
    symbols; the backends then call the function itself. Constant partials are floats.
    """

    __slots__ = ("op", "forward", "partials")

    def __init__(self, op: Primitive, forward: Tree | None, partials: tuple[Tree, ...] | None) -> None:
        self.op, self.forward, self.partials = op, forward, partials


def component(tree: Tree, k: int) -> Tree:
    """The k-th element of each leaf of a tree whose leaves are tuples."""
    if isinstance(tree, Branch):
        return Branch(tree.cond, component(tree.yes, k), component(tree.no, k))
    return tree if tree is RAISE else tree[k]


_deriving = threading.Lock()  # the path explorer is one stack for all threads


def derive(op: Primitive) -> OpCode:
    """The code of ``op``'s forward and partials, derived from its table entry."""
    with _deriving:
        return _derive(op)


def _derive(op: Primitive) -> OpCode:
    args = tuple(placeholder(f"_A{i}") for i in range(op.arity))
    try:
        forward: Tree | None = _explore(lambda: _run(op.forward, args))
    except NotSymbolic:
        forward = None
    partials: tuple[Tree, ...] | None
    if op.constant:
        d = op.derivative
        partials = tuple(float(p) for p in ((d,) if op.arity == 1 else d))
    else:
        try:
            tree = _explore(lambda: _with_symbolic_globals(op.derivative)(SYM_F, *args, placeholder("_OUT")))
            partials = (tree,) if op.arity == 1 else tuple(component(tree, k) for k in range(op.arity))
        except (NotSymbolic, TypeError, IndexError):
            partials = None
    return OpCode(op, forward, partials)
