"""The nodes of the expression tree: made by ``tree.derive`` from the table (see ``tree``).

Python's operators on nodes build nodes, so a table function run on symbols builds its
tree; a comparison asks the path being explored (``EXPLORING``) which way to go.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from microgrsucc.compiler.overflow import overflow_threshold

__all__ = [
    "EXPLORING", "PREDICATES", "Binary", "Call", "Compare", "Const", "Node", "Raise",
    "Select", "Symbol", "Unary", "arguments", "children", "height", "rebuild", "same",
    "uses", "walk",
]  # fmt: skip

PREDICATES = frozenset({"isfinite", "isnan", "isinf", "is_integer"})
"""Calls whose value is a truth value (``is_integer`` is ``float.is_integer``)."""


class NotSymbolic(Exception):
    """A symbol was made a plain number, or met a function that only takes numbers."""


# --- the nodes --------------------------------------------------------------------------------


def _arithmetic(op: str) -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]:
    """The operator method ``op`` of nodes, and its reflected form."""
    return (lambda a, b: _binary(op, a, b)), (lambda a, b: _binary(op, b, a))


class Node:
    """A node of the tree. Python's operators on nodes build bigger nodes (that is how a table
    function run on symbols builds its tree); ``==`` builds a ``Compare``, so nodes hash by
    identity and are compared with ``same``."""

    __slots__ = ()
    __array_ufunc__ = None  # numpy scalars defer to our reflected operators

    def __init__(self, *values: Any) -> None:
        """Fills the class's slots, in order: the only writes (``__setattr__`` refuses them)."""
        slots: tuple[str, ...] = self.__slots__  # the subclass's own
        for name, value in zip(slots, values, strict=True):
            object.__setattr__(self, name, value)

    # arithmetic (of two constants: computed, as the table's function would)
    __add__, __radd__ = _arithmetic("+")
    __sub__, __rsub__ = _arithmetic("-")
    __mul__, __rmul__ = _arithmetic("*")
    __truediv__, __rtruediv__ = _arithmetic("/")
    __floordiv__, __rfloordiv__ = _arithmetic("//")
    __mod__, __rmod__ = _arithmetic("%")

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
        super().__init__(float(value))

    value: float


class Symbol(Node):
    """An operand of the op (``x``, ``y``, ...), its output ``out``, or a name a backend binds."""

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        super().__init__(name)


class Call(Node):
    """``fn(*args)``: a function of ``math`` by name, or a predicate (``PREDICATES``)."""

    __slots__ = ("fn", "args")
    fn: str
    args: tuple[Node, ...]

    def __init__(self, fn: str, args: tuple[Node, ...]) -> None:
        super().__init__(fn, args)

    def __bool__(self) -> bool:
        return _decide(self) if self.fn in PREDICATES else Node.__bool__(self)


class Unary(Node):
    """``-a`` (``op == "neg"``) or ``abs(a)`` (``op == "abs"``)."""

    __slots__ = ("op", "a")
    op: str
    a: Node

    def __init__(self, op: str, a: Node) -> None:
        super().__init__(op, a)


class Binary(Node):
    """``a op b`` for ``op`` in ``+ - * / ** // %``, with Python's float semantics."""

    __slots__ = ("op", "a", "b")
    op: str
    a: Node
    b: Node

    def __init__(self, op: str, a: Node, b: Node) -> None:
        super().__init__(op, a, b)


class Compare(Node):
    """``a op b`` for ``op`` in ``< <= > >= == !=``: a truth value (false for NaN, but ``!=``)."""

    __slots__ = ("op", "a", "b")
    op: str
    a: Node
    b: Node

    def __init__(self, op: str, a: Node, b: Node) -> None:
        super().__init__(op, a, b)

    def __bool__(self) -> bool:
        return _decide(self)


class Select(Node):
    """``yes if cond else no``: a branch of the table's function."""

    __slots__ = ("cond", "yes", "no")
    cond: Node
    yes: Node
    no: Node

    def __init__(self, cond: Node, yes: Node, no: Node) -> None:
        super().__init__(cond, yes, no)


class Raise(Node):
    """The table's function raises here (a domain check): the eager engine gives the error."""

    __slots__ = ()


EXPLORING: list[Any] = []  # ``tree``'s paths being run, innermost last: a comparison asks it


def _decide(cond: Node) -> bool:
    if not EXPLORING:
        raise NotSymbolic("a comparison outside a derivation")
    return EXPLORING[-1].decide(cond)  # type: ignore[no-any-return]


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
    ZeroDivisionError, and where the result is past the floats OverflowError, so a table
    function catching either (a vertical slope, a slope in two factors) branches there."""
    if isinstance(a, Const) and isinstance(b, Const):
        return _binary("**", a, b)
    if isinstance(b, Const):
        if (b.value < 0.0) and (a == 0.0):
            raise ZeroDivisionError("0.0 cannot be raised to a negative power")
        if _overflows(a, b.value):
            raise OverflowError("(34, 'Numerical result out of range')")
        return Binary("**", a, b)
    if a == 0.0:  # first: the overflow test takes log(|a|)
        if b < 0.0:
            raise ZeroDivisionError("0.0 cannot be raised to a negative power")
        return Binary("**", a, b)
    if isinstance(a, Const) and not (math.isfinite(a.value) and abs(a.value) != 1.0):
        return Binary("**", a, b)  # 1 ** b, inf ** b and nan ** b never raise
    # |a| ** b passes the floats where b log|a| > log(DBL_MAX), and Python raises only for a
    # finite base and exponent (inf ** 2 is inf): a * 0 + b * 0 is 0 for those, else NaN,
    # which fails the test (one test, so one branch, and one log). At the rounding boundary
    # the test may disagree with pow; there the generated code's ``**`` raises, or gives inf
    # (numpy), and the sample is replayed by the eager engine: rare, and still correct.
    log_a: Node
    if isinstance(a, Const):
        log_a, zero = Const(math.log(abs(a.value))), b * 0.0
    else:
        # log of |a|, or of 1 where a == 0: that path took the branch above, but numpy
        # computes every branch, and log(0)'s -inf would flag the sample as a domain error.
        nonzero = Select(Compare("==", a, Const(0.0)), Const(1.0), Unary("abs", a))
        log_a, zero = Call("log", (nonzero,)), a * 0.0 + b * 0.0
    if b * log_a + zero > _LOG_MAX:
        raise OverflowError("(34, 'Numerical result out of range')")
    return Binary("**", a, b)


_LOG_MAX = math.log(sys.float_info.max)


def _overflows(a: Node, n: float) -> bool:
    """Whether ``a ** n`` passes the floats, for a constant n: a branch on ``|a|`` against the
    exact threshold, or no branch where no finite base can overflow."""
    t = overflow_threshold(n)
    if t is None:
        return False
    if n > 0.0:  # |a| > t, and finite: inf ** n is inf, no error
        return bool((abs(a) > t) and (abs(a) < math.inf))
    return bool(abs(a) < t)  # 0 < |a| < t (a == 0 raised ZeroDivisionError before)


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
