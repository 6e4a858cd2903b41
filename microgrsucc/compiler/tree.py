"""One small expression tree for what an op computes: its forward and its partials.

``derive(op)`` runs the table entry's forward and derivative on *symbols* (``x``, ``y``, ...
for the inputs, ``out`` for the output): the operators of a symbol build nodes instead of
numbers, so ``lambda F, x, y, out: (y, x)`` gives the partials ``Symbol("y")`` and
``Symbol("x")``, and ``math.exp(x)`` gives ``Call("exp", (x,))``. A table function that
branches (``0.0 if x <= 0.0 else x``) is run once per path: each comparison is a branch
point, and the paths become ``Select`` nodes, so code printed from the tree branches per
sample exactly where the table's function does (NaN falls through the same way). A path
that raises (a domain check) becomes a ``Raise`` leaf.

The tree knows no target. Each backend is a *printer* of it (Python on floats, numpy on
arrays; a JavaScript or formula printer is one more class): a printer walks the nodes and
writes its own syntax, and nothing ever parses or edits printed text.

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

A derivative that reads ``F.cos(x)`` gets cos's forward tree in its place. What cannot be
run on symbols (a user's custom op calling a C function of its own) derives to ``None``;
backends then call the table's function itself.
"""

from __future__ import annotations

import builtins
import math
import operator
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from microgrsucc import custom_ops, ops
from microgrsucc.ops import Primitive

__all__ = [
    "PREDICATES",
    "Binary",
    "Call",
    "Compare",
    "Const",
    "Derived",
    "Node",
    "Raise",
    "Select",
    "Symbol",
    "Unary",
    "arguments",
    "children",
    "derive",
    "height",
    "rebuild",
    "same",
    "times",
    "uses",
    "walk",
]

PREDICATES = frozenset({"isfinite", "isnan", "isinf", "is_integer"})
"""Calls whose value is a truth value (``is_integer`` is ``float.is_integer``)."""


class NotSymbolic(Exception):
    """A symbol was made a plain number, or met a function that only takes numbers."""


# --- the nodes --------------------------------------------------------------------------------


class Node:
    """A node of the tree. Python's operators on nodes build bigger nodes (that is how a table
    function run on symbols builds its tree); ``==`` builds a ``Compare``, so nodes hash by
    identity and are compared with ``same``."""

    __slots__ = ()
    __array_ufunc__ = None  # numpy scalars defer to our reflected operators

    # arithmetic (of two constants: computed, as the table's function would)
    def __add__(self, o: Any) -> Node:
        return _binary("+", self, o)

    def __radd__(self, o: Any) -> Node:
        return _binary("+", o, self)

    def __sub__(self, o: Any) -> Node:
        return _binary("-", self, o)

    def __rsub__(self, o: Any) -> Node:
        return _binary("-", o, self)

    def __mul__(self, o: Any) -> Node:
        return _binary("*", self, o)

    def __rmul__(self, o: Any) -> Node:
        return _binary("*", o, self)

    def __truediv__(self, o: Any) -> Node:
        return _binary("/", self, o)

    def __rtruediv__(self, o: Any) -> Node:
        return _binary("/", o, self)

    def __floordiv__(self, o: Any) -> Node:
        return _binary("//", self, o)

    def __rfloordiv__(self, o: Any) -> Node:
        return _binary("//", o, self)

    def __mod__(self, o: Any) -> Node:
        return _binary("%", self, o)

    def __rmod__(self, o: Any) -> Node:
        return _binary("%", o, self)

    def __pow__(self, o: Any) -> Node:
        return _power(self, node(o))

    def __rpow__(self, o: Any) -> Node:
        return _power(node(o), self)

    def __neg__(self) -> Node:
        return Unary("neg", self)

    def __pos__(self) -> Node:
        return self

    def __abs__(self) -> Node:
        return Unary("abs", self)

    # comparisons: truth values, decided per path by the explorer
    def __lt__(self, o: Any) -> Any:
        return _compare("<", self, o)

    def __le__(self, o: Any) -> Any:
        return _compare("<=", self, o)

    def __gt__(self, o: Any) -> Any:
        return _compare(">", self, o)

    def __ge__(self, o: Any) -> Any:
        return _compare(">=", self, o)

    def __eq__(self, o: Any) -> Any:
        return _compare("==", self, o)

    def __ne__(self, o: Any) -> Any:
        return _compare("!=", self, o)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return _decide(Compare("!=", self, Const(0.0)))

    def is_integer(self) -> Node:
        return Call("is_integer", (self,))

    # a symbol cannot become a number
    def __float__(self) -> float:
        raise NotSymbolic("a symbol made a float")

    def __index__(self) -> int:
        raise NotSymbolic("a symbol made an int")

    def __repr__(self) -> str:
        return format_tree(self)


class Const(Node):
    """A float."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        object.__setattr__(self, "value", float(value))

    value: float


class Symbol(Node):
    """An operand of the op (``x``, ``y``, ...), its output ``out``, or a name a backend binds."""

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)


class Call(Node):
    """``fn(*args)``: a function of ``math`` by name, or a predicate (``PREDICATES``)."""

    __slots__ = ("fn", "args")
    fn: str
    args: tuple[Node, ...]

    def __init__(self, fn: str, args: tuple[Node, ...]) -> None:
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "args", args)

    def __bool__(self) -> bool:
        return _decide(self) if self.fn in PREDICATES else Node.__bool__(self)


class Unary(Node):
    """``-a`` (``op == "neg"``) or ``abs(a)`` (``op == "abs"``)."""

    __slots__ = ("op", "a")
    op: str
    a: Node

    def __init__(self, op: str, a: Node) -> None:
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "a", a)


class Binary(Node):
    """``a op b`` for ``op`` in ``+ - * / ** // %``, with Python's float semantics."""

    __slots__ = ("op", "a", "b")
    op: str
    a: Node
    b: Node

    def __init__(self, op: str, a: Node, b: Node) -> None:
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)


class Compare(Node):
    """``a op b`` for ``op`` in ``< <= > >= == !=``: a truth value (false for NaN, but ``!=``)."""

    __slots__ = ("op", "a", "b")
    op: str
    a: Node
    b: Node

    def __init__(self, op: str, a: Node, b: Node) -> None:
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    def __bool__(self) -> bool:
        return _decide(self)


class Select(Node):
    """``yes if cond else no``: a branch of the table's function."""

    __slots__ = ("cond", "yes", "no")
    cond: Node
    yes: Node
    no: Node

    def __init__(self, cond: Node, yes: Node, no: Node) -> None:
        object.__setattr__(self, "cond", cond)
        object.__setattr__(self, "yes", yes)
        object.__setattr__(self, "no", no)


class Raise(Node):
    """The table's function raises here (a domain check): the eager engine gives the error."""

    __slots__ = ()


def _frozen(self: Node, name: str, value: Any) -> None:
    raise AttributeError(f"tree nodes are immutable ({type(self).__name__}.{name})")


Node.__setattr__ = _frozen  # type: ignore[method-assign,assignment]


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
    "%": operator.mod, "//": operator.floordiv,
}  # fmt: skip
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip


def _binary(op: str, a: Any, b: Any) -> Node:
    a, b = node(a), node(b)
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(_ARITHMETIC[op](a.value, b.value))  # raises where Python's float op raises
    return Binary(op, a, b)


def _compare(op: str, a: Any, b: Any) -> Any:
    a, b = node(a), node(b)
    if isinstance(a, Const) and isinstance(b, Const):
        return _COMPARISONS[op](a.value, b.value)  # a plain bool: no branch point
    return Compare(op, a, b)


def _power(a: Node, b: Node) -> Node:
    """``a ** b`` as Python's float pow: where the base is 0 and the exponent negative it raises
    ZeroDivisionError, so a table function catching it (a vertical slope) branches there."""
    if isinstance(a, Const) and isinstance(b, Const):
        return _binary("**", a, b)
    if (b < 0.0) and (a == 0.0):
        raise ZeroDivisionError("0.0 cannot be raised to a negative power")
    return Binary("**", a, b)


def node(x: Any) -> Node:
    """A node for an operand: a node as it is, a real number as a ``Const``."""
    if isinstance(x, Node):
        return x
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return Const(float(x))
    raise NotSymbolic(f"cannot make a {type(x).__name__} part of a tree")


def arguments(n: int) -> tuple[Symbol, ...]:
    """The symbols of an op's ``n`` inputs: ``x``, ``y``, ``z``, then ``x3``, ``x4``..."""
    return tuple(Symbol("xyz"[k] if k < 3 else f"x{k}") for k in range(n))


OUT = Symbol("out")


# --- looking at trees -------------------------------------------------------------------------


def children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, Call):
        return n.args
    if isinstance(n, Unary):
        return (n.a,)
    if isinstance(n, (Binary, Compare)):
        return (n.a, n.b)
    if isinstance(n, Select):
        return (n.cond, n.yes, n.no)
    return ()


def rebuild(n: Node, parts: Sequence[Node]) -> Node:
    """A node like ``n`` (a Call, Unary, Binary, Compare or Select) with the children ``parts``."""
    if isinstance(n, Call):
        return Call(n.fn, tuple(parts))
    if isinstance(n, Unary):
        return Unary(n.op, parts[0])
    if isinstance(n, Binary):
        return Binary(n.op, parts[0], parts[1])
    if isinstance(n, Compare):
        return Compare(n.op, parts[0], parts[1])
    if isinstance(n, Select):
        return Select(parts[0], parts[1], parts[2])
    return n


def walk(n: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children."""
    stack = [n]
    while stack:
        top = stack.pop()
        yield top
        stack.extend(reversed(children(top)))


def uses(n: Node, name: str) -> int:
    """How many times the symbol ``name`` appears in the tree."""
    return sum(1 for m in walk(n) if isinstance(m, Symbol) and m.name == name)


def height(n: Node) -> int:
    """The nesting depth of the tree (a leaf is 0): how deep printed brackets can go."""
    below = [height(c) for c in children(n)]
    return 1 + max(below) if below else 0


def same(a: Node, b: Node) -> bool:
    """Structural equality (``==`` on nodes builds a comparison)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Const) and isinstance(b, Const):
        return repr(a.value) == repr(b.value)  # -0.0 is not 0.0
    if isinstance(a, Symbol) and isinstance(b, Symbol):
        return a.name == b.name
    if getattr(a, "op", None) != getattr(b, "op", None) or getattr(a, "fn", None) != getattr(b, "fn", None):
        return False
    ca, cb = children(a), children(b)
    return len(ca) == len(cb) and all(same(x, y) for x, y in zip(ca, cb, strict=True))


def times(g: Node, tree: Node, *, into_branches: bool) -> Node:
    """``g * tree``, simplified for a 1 or -1 leaf. With ``into_branches`` the product goes into
    each leaf of a ``Select`` (a target that evaluates one branch); else around the whole."""
    if isinstance(tree, Select) and into_branches:
        return Select(
            tree.cond, times(g, tree.yes, into_branches=True), times(g, tree.no, into_branches=True)
        )
    if isinstance(tree, Raise):
        return tree
    if isinstance(tree, Const) and tree.value == 1.0:
        return g
    if isinstance(tree, Const) and tree.value == -1.0:
        return Unary("neg", g)
    return Binary("*", g, tree)


def format_tree(n: Node) -> str:
    """A readable one-line form, for reprs and error messages (not code for any target)."""
    if isinstance(n, Const):
        return repr(n.value)
    if isinstance(n, Symbol):
        return n.name
    if isinstance(n, Call):
        return f"{n.fn}({', '.join(format_tree(a) for a in n.args)})"
    if isinstance(n, Unary):
        return f"(-{format_tree(n.a)})" if n.op == "neg" else f"abs({format_tree(n.a)})"
    if isinstance(n, (Binary, Compare)):
        return f"({format_tree(n.a)} {n.op} {format_tree(n.b)})"
    if isinstance(n, Select):
        return f"({format_tree(n.yes)} if {format_tree(n.cond)} else {format_tree(n.no)})"
    return "raise"


# --- running the table's functions on symbols ---------------------------------------------------


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


_paths: list[_Paths] = []  # the paths being explored, innermost last (one thread at a time)


def _decide(cond: Node) -> bool:
    if not _paths:
        raise NotSymbolic("a comparison outside a derivation")
    return _paths[-1].decide(cond)


_RAISED = object()  # a path that raised


def _explore(run: Callable[[], Any]) -> Any:
    """Run ``run`` down every path of its comparisons; a tree (or a tuple of trees) of Selects."""
    results: list[tuple[list[tuple[Node, bool]], Any]] = []
    prefix: list[bool] = []
    while True:
        paths = _Paths(prefix)
        _paths.append(paths)
        try:
            result = _check(run())
        except NotSymbolic:
            raise
        except (ArithmeticError, ValueError):
            result = _RAISED
        except Exception as err:  # the function used a symbol where only a number works
            raise NotSymbolic(f"{type(err).__name__}: {err}") from None
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


# --- the entry point ----------------------------------------------------------------------------


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
    """The trees of ``op``'s forward and partials, from its table entry.

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
