"""One small expression tree for what an op computes: its forward and its partials.

``derive(op)`` runs the table entry's forward and derivative on *symbols* (``x``, ``y``...,
``out``): their operators build nodes, so ``math.exp(x)`` gives ``Call("exp", (x,))``. A
function that branches is run once per path; the paths become ``Select`` nodes, branching
per sample where the table's function does (NaN included); a domain check is ``Raise``.

The tree knows no target: each backend is a *printer* of it (Python, numpy, JavaScript,
formulas), and nothing ever parses or edits printed text.

The nodes (all immutable, with ``__slots__``):

=============  ==========================================================================
``Const``      a float (``inf`` and ``nan`` included)
``Symbol``     an operand of the op: ``x``, ``y``, ``z``, ``x3``... (``arguments(n)``), ``out``
``Call``       a function of ``math`` by name (``exp``, ``atan2``, ``erf``...), or one of
               ``PREDICATES`` (``isfinite``, ``isnan``, ``isinf``, ``is_integer``: a truth value)
``Unary``      ``-a`` (``"neg"``) or ``abs(a)`` (``"abs"``)
``Binary``     ``a + b``, ``-``, ``*``, ``/``, ``**``, ``//``, ``%`` (Python's float semantics:
               ``//`` floors, ``%`` takes the divisor's sign)
``Compare``    ``a < b``, ``<=``, ``>``, ``>=``, ``==``, ``!=``: a truth value
``Select``     ``yes if cond else no`` (``cond`` a truth value; NaN compares false)
``Raise``      the table's function raises here (a domain error): no value
=============  ==========================================================================

``F.cos(x)`` in a derivative is cos's forward tree. What cannot run on symbols derives to
None, and backends call the table's function itself.

The nodes are defined in ``nodes.py`` and exported here. This module runs a table function
on symbols: it is called with ``math``, ``float`` and ``FLOAT`` replaced by symbolic
versions in a copy of its globals (the table is not touched), once per path of its
comparisons (``_explore``).
"""

from __future__ import annotations

import builtins
import math
import operator
import threading
import types
from collections.abc import Callable
from typing import Any

from microgrsucc import custom_ops, ops
from microgrsucc.compiler.nodes import (
    EXPLORING,
    OUT,
    PREDICATES,
    Binary,
    Call,
    Compare,
    Const,
    Node,
    NotSymbolic,
    Raise,
    Select,
    Symbol,
    Unary,
    arguments,
    children,
    height,
    node,
    rebuild,
    same,
    uses,
    walk,
)
from microgrsucc.ops import Primitive

__all__ = [
    "OUT", "PREDICATES", "Binary", "Call", "Compare", "Const", "Derived", "Node", "Raise", "Select",
    "Symbol", "Unary", "arguments", "children", "derive", "height", "rebuild", "same", "uses", "walk",
]  # fmt: skip


class _Paths:
    """The branch decisions of the path being run: a prefix to follow, then True."""

    def __init__(self, prefix: list[bool]) -> None:
        self.prefix = prefix
        self.taken: list[tuple[Node, bool]] = []

    def decide(self, cond: Node) -> bool:
        for seen, choice in self.taken:  # the same test twice on one path: the same answer
            if same(seen, cond):
                return choice
        i = len(self.taken)
        choice = self.prefix[i] if i < len(self.prefix) else True
        self.taken.append((cond, choice))
        if len(self.taken) > 12:
            raise NotSymbolic("too many branches")
        return choice


_RAISED = object()  # a path that raised


def _explore(run: Callable[[], Any]) -> Any:
    """Run ``run`` down every path of its comparisons; a tree (or a tuple of trees) of Selects."""
    results: list[tuple[list[tuple[Node, bool]], Any]] = []
    prefix: list[bool] = []
    while True:
        paths = _Paths(prefix)
        EXPLORING.append(paths)
        try:
            result = _check(run())
        except NotSymbolic:
            raise
        except (ArithmeticError, ValueError):
            result = _RAISED
        except Exception as err:  # the function used a symbol where only a number works
            raise NotSymbolic(f"{type(err).__name__}: {err}") from None
        finally:
            EXPLORING.pop()
        results.append((paths.taken, result))
        if len(results) > 64:  # pow's partials, with an exponent that is a Value, take 48
            raise NotSymbolic("too many paths")
        decisions = [choice for _, choice in paths.taken]
        while decisions and not decisions[-1]:
            decisions.pop()
        if not decisions:
            break
        prefix = [*decisions[:-1], False]
    width = next((len(r) for _, r in results if isinstance(r, tuple)), None)
    if width is None:
        return _select(results, 0, None)
    return tuple(_select(results, 0, k) for k in range(width))


def _check(result: Any) -> Any:
    if isinstance(result, (tuple, list)):
        return tuple(node(r) for r in result)
    return node(result)


def _select(results: list[tuple[list[tuple[Node, bool]], Any]], depth: int, k: int | None) -> Node:
    taken, result = results[0]
    if len(taken) == depth:
        if result is _RAISED:
            return Raise()
        return result if k is None else result[k]  # type: ignore[no-any-return]
    cond = taken[depth][0]
    yes = _select([r for r in results if r[0][depth][1]], depth + 1, k)
    no = _select([r for r in results if not r[0][depth][1]], depth + 1, k)
    return yes if same(yes, no) else Select(cond, yes, no)


class _SymbolicMath:
    """``math`` on symbols: ``math.exp(x)`` is ``Call("exp", (x,))``; constants stay numbers."""

    def __getattr__(self, name: str) -> Any:
        real = getattr(math, name)
        if not callable(real):
            return real  # math.inf, math.nan, math.pi

        def call(*args: Any) -> Any:
            if not any(isinstance(a, Node) for a in args):
                return real(*args)
            return Call(name, tuple(node(a) for a in args))

        return call


class _SymbolicF:
    """The namespace ``F`` of derivatives, on symbols: ``F.cos(x)`` is cos's forward tree."""

    def value(self, x: Any) -> Any:
        return x

    def __getattr__(self, name: str) -> Any:
        op = ops.PRIMITIVES.get(name)
        if op is None:
            raise AttributeError(name)

        def apply(*args: Any) -> Any:
            return _explore(lambda: _run(op.forward, args))

        return apply


def _symbolic_float(x: Any = 0.0) -> Any:
    return x if isinstance(x, Node) else builtins.float(x)


SYMBOLIC_F = _SymbolicF()
_REPLACED = {"math": _SymbolicMath(), "float": _symbolic_float}


def _with_symbolic_globals(fn: Any) -> Any:
    """A copy of a Python function whose ``math``/``float``/``FLOAT`` are symbolic.

    Functions of the same module that it calls are copied too, so a derivative calling
    ``_power_partial`` runs that on symbols as well. Builtins are returned as they are
    (``abs``, ``max`` and ``min`` work on nodes through their operators).
    """
    fn = _unwrapped(fn)
    if not isinstance(fn, types.FunctionType):
        return fn
    table = fn.__globals__
    new = dict(table)  # a fresh copy each time: the module's globals may have been rebound
    new.update(_REPLACED)
    if table.get("FLOAT") is ops.FLOAT:
        new["FLOAT"] = SYMBOLIC_F
    for name, value in table.items():
        if isinstance(value, types.FunctionType) and value.__globals__ is table:
            new[name] = _copy(value, new)
    return _copy(fn, new)


def _copy(fn: types.FunctionType, new_globals: dict[str, Any]) -> types.FunctionType:
    return types.FunctionType(fn.__code__, new_globals, fn.__name__, fn.__defaults__, fn.__closure__)


# Forwards that are C functions: math's by name, and the operators nodes implement.
_OPERATORS = {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, operator.pow, abs}


def _unwrapped(fn: Any) -> Any:
    """The user's function inside a checking wrapper (``functools.wraps``'s ``__wrapped__``, or
    a custom op's checked forward and derivative, which hold it as ``function``): the checks
    of a result's type are for numbers, not for trees."""
    while True:
        inner = getattr(fn, "__wrapped__", None)
        if inner is None and isinstance(fn, custom_ops.CHECKED):
            inner = fn.function
        if inner is None:
            return fn
        fn = inner


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    fn = _unwrapped(fn)
    if fn in _OPERATORS:
        return fn(*args)
    if isinstance(fn, types.BuiltinFunctionType) and getattr(math, fn.__name__, None) is fn:
        return getattr(_REPLACED["math"], fn.__name__)(*args)
    if not isinstance(fn, types.FunctionType):
        raise NotSymbolic(f"{fn!r} is neither a Python function nor a known builtin")
    return _with_symbolic_globals(fn)(*args)


class Derived:
    """An op's forward and partials as trees over ``arguments(op.arity)`` and ``out``.

    ``forward`` is a tree of the inputs; ``partials[k]`` is d(out)/d(input k), a tree of the
    inputs and ``out``. Either is None where the table's function could not be run on
    symbols: backends then call the function itself.
    """

    __slots__ = ("op", "forward", "partials")

    def __init__(self, op: Primitive, forward: Node | None, partials: tuple[Node, ...] | None) -> None:
        self.op, self.forward, self.partials = op, forward, partials

    def __repr__(self) -> str:
        return f"<derived {self.op.name}: {self.forward!r}; {self.partials!r}>"


_deriving = threading.Lock()  # the path explorer is one stack for all threads


def derive(op: Primitive) -> Derived:
    """The trees of ``op``'s forward and partials, from its table entry (see ``Derived``).

    >>> d = derive(ops.PRIMITIVES["tanh"])
    >>> d.forward, d.partials
    (tanh(x), ((1.0 - (out * out)),))
    """
    with _deriving:
        return _derive(op)


def _derive(op: Primitive) -> Derived:
    args = arguments(op.arity)
    try:
        forward: Node | None = _explore(lambda: _run(op.forward, args))
        if isinstance(forward, tuple):
            forward = None
    except NotSymbolic:
        forward = None
    partials: tuple[Node, ...] | None
    if op.constant:
        d = op.derivative
        partials = tuple(Const(float(p)) for p in ((d,) if op.arity == 1 else d))
    else:
        try:
            found = _explore(lambda: _with_symbolic_globals(op.derivative)(SYMBOLIC_F, *args, OUT))
            if op.arity == 1 and isinstance(found, tuple) and len(found) == 1:
                found = found[0]  # a custom op's one partial, given as a 1-tuple
            partials = (found,) if op.arity == 1 else tuple(found)
            if len(partials) != op.arity or not all(isinstance(p, Node) for p in partials):
                partials = None
        except (NotSymbolic, TypeError, IndexError):
            partials = None
    return Derived(op, forward, partials)
