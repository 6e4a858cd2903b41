"""The numpy backend's printer of trees, and the functions the code it prints calls.

``NumpyPrinter`` writes a tree as numpy code on whole columns: every branch of a ``Select``
is computed and ``where`` picks per sample. A ``Raise`` becomes a mask of the samples whose
path reaches it (``guard``); each math function notes the samples where ``math``'s would
raise (``Checked``), on the branch the sample takes only. The noted samples (``SUSPECTS``)
are run by the eager engine afterwards, which raises its own error.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from microgrsucc import ops
from microgrsucc.compiler.python_code import PythonPrinter
from microgrsucc.compiler.tree import (
    Binary,
    Call,
    Compare,
    Const,
    Node,
    Raise,
    Select,
    Symbol,
    Unary,
    children,
    rebuild,
    same,
    walk,
)
from microgrsucc.ops import Primitive

__all__ = [
    "NUMPY",
    "SUSPECTS",
    "Checked",
    "NumpyPrinter",
    "guard",
    "numpy_function",
    "suspect",
    "vectorized",
]


# The samples where a table function may raise, found while the batch runs (one list per
# thread): the eager engine runs those samples afterwards and raises its own error, if any.
SUSPECTS = threading.local()


def suspect(bad: Any) -> None:
    """Note the samples flagged in ``bad`` (a column, a block, or one flag for the batch)."""
    bad = np.asarray(bad)
    if bad.ndim == 0:
        SUSPECTS.found.append(None)  # the whole batch
    else:
        SUSPECTS.found.append(bad.reshape(len(bad), -1).any(axis=1))


def guard(failed: Any, value: Any) -> Any:
    """``value``, noting the samples where the table's domain check fails."""
    if np.any(failed):
        suspect(np.broadcast_to(failed, np.shape(value)))
    return value


class Checked:
    """numpy's ``f`` noting where math's would raise: a NaN from numbers (ValueError) or an
    infinity from finite numbers (OverflowError), as CPython's math module decides. ``on``
    notes only the samples in a mask (those that take the branch the call is in)."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f = f

    def __call__(self, *args: Any) -> Any:
        r = self.f(*args)
        if not math.isfinite(np.add.reduce(r, None)):  # one pass; a finite sum has no inf or NaN
            _note(r, args, None)
        return r

    def on(self, where: Callable[[], Any], *args: Any) -> Any:
        r = self.f(*args)
        if not math.isfinite(np.add.reduce(r, None)):
            _note(r, args, where)
        return r


def _note(r: Any, args: tuple[Any, ...], where: Callable[[], Any] | None) -> None:
    nan_in = functools.reduce(np.logical_or, [np.isnan(a) for a in args])  # arrays and floats
    finite_in = functools.reduce(np.logical_and, [np.isfinite(a) for a in args])
    bad = (np.isnan(r) & ~nan_in) | (np.isinf(r) & finite_in)
    if where is not None:
        bad = bad & where()
    if np.any(bad):
        suspect(np.broadcast_to(bad, np.shape(r)))


# math functions that never raise for a float: numpy's are called as they are.
_TOTAL = {"tanh", "atan", "erf", "erfc", "fabs", "copysign", "isfinite", "isnan", "isinf"}


def vectorized(op: Primitive) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """An op without derived code, called per element: its forward and its derivative.

    Where the table's function raises, the element is NaN and its sample a suspect."""

    def forward1(*x: Any) -> Any:
        try:
            return op.forward(*x)
        except Exception:
            return None

    def derivative1(*x: Any) -> Any:
        try:
            return op.derivative(ops.FLOAT, *x)
        except Exception:
            return None if op.arity == 1 else (None,) * op.arity

    forward = np.frompyfunc(forward1, op.arity, 1)
    derivative = np.frompyfunc(derivative1, op.arity + 1, op.arity)

    def floats(x: Any) -> Any:
        failed = np.asarray(x == None)  # noqa: E711  (elementwise, on an object array)
        if np.any(failed):
            suspect(failed)
            x = np.where(failed, math.nan, x)
        return np.asarray(x, dtype=float)

    def fwd(*a: Any) -> Any:
        return floats(forward(*a))

    def der(F: Any, *a: Any) -> Any:
        d = derivative(*a)
        return floats(d) if op.arity == 1 else tuple(floats(x) for x in d)

    return fwd, der


_X = Symbol("x")
# Branching trees numpy has one call for (matched on the tree, never on printed text):
# relu's slope (1 above 0, 0 at and below, NaN for NaN) and abs's (the sign, NaN for NaN).
_IDIOMS = (
    (Select(_X > 0.0, Const(1.0), Select(_X <= 0.0, Const(0.0), Const(math.nan))), "heaviside({}, 0.0)"),
    (
        Select(
            _X > 0.0,
            Const(1.0),
            Select(_X < 0.0, Const(-1.0), Select(_X == 0.0, Const(0.0), Const(math.nan))),
        ),
        "np.sign({})",
    ),
)


class NumpyPrinter(PythonPrinter):
    """Prints a tree as numpy code on whole columns: every branch of a Select is computed and
    ``where`` picks per sample; a ``Raise`` becomes a mask of the samples that reach it,
    which ``guard`` notes for the eager engine, and the value is the tree without it."""

    into_branches = False

    def expr(self, n: Node, env: dict[str, str]) -> str:
        if not any(isinstance(m, Raise) for m in walk(n)):
            return self.value(n, env, [])
        mask = self.mask(_raising(n, []), env)
        value = _without_raise(n)
        shown = self.value(value, env, []) if value is not None else "nan"
        return f"_guard({mask}, {shown})"

    def value(self, n: Node, env: dict[str, str], path: Path) -> str:
        """``n`` as numpy code; ``path`` holds the conditions under which its value is used, so a
        function's check notes only the samples that take this branch."""
        if isinstance(n, Binary) and n.op == "**":
            return self.checked("_pow", [n.a, n.b], env, path)  # Python's ** raises on overflow
        if isinstance(n, (Binary, Compare)):
            return f"({self.value(n.a, env, path)} {n.op} {self.value(n.b, env, path)})"
        if isinstance(n, Call):
            if n.fn in _TOTAL or n.fn == "is_integer":
                return f"{self.function(n.fn)}({', '.join(self.value(a, env, path) for a in n.args)})"
            return self.checked(self.function(n.fn), list(n.args), env, path)
        if isinstance(n, Unary):
            a = self.value(n.a, env, path)
            return f"(-{a})" if n.op == "neg" else f"np.abs({a})"
        if isinstance(n, Select):
            for shape, code in _IDIOMS:
                if isinstance(n.cond, Compare) and same(n, _substituted(shape, n.cond.a)):
                    return code.format(self.value(n.cond.a, env, path))
            cond = self.value(n.cond, env, path)
            yes = self.value(n.yes, env, [*path, (n.cond, True)])
            no = self.value(n.no, env, [*path, (n.cond, False)])
            return f"where({cond}, {yes}, {no})"
        return super().expr(n, env)

    def checked(self, f: str, args: list[Node], env: dict[str, str], path: Path) -> str:
        shown = ", ".join(self.value(a, env, path) for a in args)
        if not path:
            return f"{f}({shown})"
        return f"{f}.on(lambda: {self.mask([path], env)}, {shown})"

    def function(self, name: str) -> str:
        return f"np_{name}"

    def mask(self, paths: list[Path], env: dict[str, str]) -> str:
        """The samples that take one of ``paths`` (each a list of conditions and their truth)."""
        terms = []
        for path in paths:
            tests = [
                self.value(c, env, []) if truth else f"np.logical_not({self.value(c, env, [])})"
                for c, truth in path
            ]
            terms.append(" & ".join(f"({t})" for t in tests) if tests else "True")
        return " | ".join(f"({t})" for t in terms)


Path = list[tuple[Node, bool]]


def _raising(n: Node, path: list[tuple[Node, bool]]) -> list[list[tuple[Node, bool]]]:
    """The paths (conditions and their truth) under which ``n`` reaches a ``Raise``."""
    if isinstance(n, Raise):
        return [path]
    if isinstance(n, Select):
        return _raising(n.yes, [*path, (n.cond, True)]) + _raising(n.no, [*path, (n.cond, False)])
    return [p for c in children(n) for p in _raising(c, path)]


def _without_raise(n: Node) -> Node | None:
    """``n`` with each branch that raises cut off (None if every path raises): its value on
    the samples that do not raise."""
    if isinstance(n, Raise):
        return None
    if isinstance(n, Select):
        yes, no = _without_raise(n.yes), _without_raise(n.no)
        if yes is None or no is None:
            return no if yes is None else yes
        return yes if same(yes, no) else Select(n.cond, yes, no)
    parts = [_without_raise(c) for c in children(n)]
    if any(p is None for p in parts):
        return None
    return rebuild(n, parts)  # type: ignore[arg-type]


def _substituted(shape: Node, x: Node) -> Node:
    """``shape`` with its symbol ``x`` replaced by the tree ``x``."""
    if isinstance(shape, Symbol):
        return x
    return rebuild(shape, [_substituted(c, x) for c in children(shape)])


NUMPY = NumpyPrinter()


def numpy_function(name: str) -> Callable[..., Any]:
    """numpy's version of math's function ``name``: by the same name, or renamed (``asin`` is
    ``arcsin``), or where numpy has none or one that differs (``erf``, ``remainder``), math's
    own applied to each element."""
    if name == "is_integer":
        return lambda x: np.isfinite(x) & (np.floor(x) == x)
    if name in _ELEMENTWISE or not hasattr(np, _RENAMED.get(name, name)):
        return _Elementwise(getattr(math, name))
    f: Callable[..., Any] = getattr(np, _RENAMED.get(name, name))
    return f if name in _TOTAL else Checked(f)


_RENAMED = {
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "acosh": "arccosh",
    "atanh": "arctanh", "atan2": "arctan2", "pow": "power",
}  # fmt: skip
# numpy's function of the same name computes something else: math's is applied per element.
_ELEMENTWISE = {"remainder", "gamma", "lgamma", "erf", "erfc", "factorial", "comb", "perm", "isqrt"}


class _Elementwise:
    """math's ``f`` on each element; where it raises, NaN, and the sample is a suspect. As
    with ``Checked``, ``on`` notes only the samples in a mask (those taking the branch)."""

    def __init__(self, f: Callable[..., float]) -> None:
        def one(*x: Any) -> Any:
            try:
                return f(*x)
            except (ArithmeticError, ValueError):
                return None

        self.one = one
        self.per_element: dict[int, Any] = {}  # by the number of arguments

    def __call__(self, *args: Any) -> Any:
        return self.on(None, *args)

    def on(self, where: Callable[[], Any] | None, *args: Any) -> Any:
        ufunc = self.per_element.get(len(args))
        if ufunc is None:
            ufunc = self.per_element[len(args)] = np.frompyfunc(self.one, len(args), 1)
        r = ufunc(*args)
        failed = np.asarray(r == None)  # noqa: E711  (elementwise, on an object array)
        if np.any(failed):
            bad = failed & where() if where is not None else failed
            if np.any(bad):
                suspect(np.broadcast_to(bad, np.shape(failed)))
            r = np.where(failed, math.nan, r)
        return np.asarray(r, dtype=float)
