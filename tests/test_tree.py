"""compiler.tree: every op of the table derives to a tree that computes what the table does."""

from __future__ import annotations

import math
import operator
import random
import sys
from typing import Any

import pytest

from microgrsucc import ops
from microgrsucc.compiler.plan import times
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
    arguments,
    derive,
    height,
    same,
    uses,
)

_OPS = [
    *ops.PRIMITIVES.values(),
    ops.pow_const(2.0),
    ops.pow_const(0.5),
    ops.pow_const(-1.0),
    ops.pow_const(3.0),
    ops.pow_const(-1.05),
]

# Where x ** n, or the slope's x ** (n - 1), passes the floats (Python raises OverflowError, the
# table's slope catches it): tiny bases to negative powers, huge ones to powers above 1, each
# side of the exact thresholds (DBL_MAX ** (1 / n), by hand: 1.34e154 for n = 2, 5.64e102 for
# n = 3, 5.56e-309 for n = -1, 2.66e-294 for n = -1.05, 4.28e-151 for n = -2.05).
_OVERFLOW_BASES = [
    1.3407807929942596e154, 1.3407807929942597e154, 1e155, -1e155, 5.643803094122361e102,
    5.643803094122362e102, -1e103, 5.56268464626801e-309, 5.562684646268e-309, 1e-310,
    5e-324, -5e-324, 2.6550971657998584e-294, 2.655097165799858e-294, 1.16e-284, 4.3e-151,
    4.28e-151, -1e-300, 1e300, -1e300,
]  # fmt: skip
_OVERFLOW_POWERS = [(b, n) for b in _OVERFLOW_BASES for n in (-1.05, -2.05, -0.95, 0.01, 1.5, 2.0, 3.0, 4.0)]


class _Raised(Exception):
    pass


def evaluate(n: Node, env: dict[str, float]) -> Any:
    """An interpreter of the tree, written from the node definitions (independent of printers)."""
    if isinstance(n, Const):
        return n.value
    if isinstance(n, Symbol):
        return env[n.name]
    if isinstance(n, Call):
        args = [evaluate(a, env) for a in n.args]
        try:
            return float.is_integer(*args) if n.fn == "is_integer" else getattr(math, n.fn)(*args)
        except (ArithmeticError, ValueError):
            raise _Raised from None  # math's own domain error: the table's function raises too
    if isinstance(n, Unary):
        a = evaluate(n.a, env)
        return -a if n.op == "neg" else abs(a)
    if isinstance(n, Binary):
        a, b = evaluate(n.a, env), evaluate(n.b, env)
        arithmetic = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
        arithmetic.update({"**": operator.pow, "//": operator.floordiv, "%": operator.mod})
        return arithmetic[n.op](a, b)
    if isinstance(n, Compare):
        a, b = evaluate(n.a, env), evaluate(n.b, env)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[n.op]
    if isinstance(n, Select):
        return evaluate(n.yes if evaluate(n.cond, env) else n.no, env)
    assert isinstance(n, Raise)
    raise _Raised


def points(op: ops.Primitive, rng: random.Random) -> list[tuple[float, ...]]:
    """Points in the op's domain, and the branch points and special values of every op."""
    drawn = [tuple(rng.uniform(*rng.choice(iv)) for iv in op.domain) for _ in range(20)]
    special = [0.0, -0.0, 1.0, -1.0, -2.5, 2.0, math.inf, -math.inf, math.nan]
    drawn += [tuple(rng.choice(special) for _ in range(op.arity)) for _ in range(40)]
    if op.name == "**":  # a Value exponent: tested by logarithms, which may round the other
        # way within an ulp or so of the threshold (there compile replays), so not those
        near = [abs(n * math.log(abs(b)) - math.log(sys.float_info.max)) < 1e-9 for b, n in _OVERFLOW_POWERS]
        drawn += [p for p, close in zip(_OVERFLOW_POWERS, near, strict=True) if not close]
        drawn += [(2.0, 1023.9), (2.0, 1025.0), (0.5, -1025.0), (-10.0, 400.0), (-10.0, 309.0)]
    elif isinstance(op, ops.Primitive) and op.name.startswith("**"):
        drawn += [(b,) for b in _OVERFLOW_BASES]
    return drawn


@pytest.mark.parametrize("op", _OPS, ids=lambda op: op.name)
def test_every_built_in_op_derives_to_a_tree_with_no_fallback(op: ops.Primitive) -> None:
    d = derive(op)
    assert d.forward is not None and d.partials is not None and len(d.partials) == op.arity


@pytest.mark.parametrize("op", _OPS, ids=lambda op: op.name)
def test_the_trees_compute_the_table_functions(op: ops.Primitive) -> None:
    d = derive(op)
    assert d.forward is not None and d.partials is not None
    names = [a.name for a in arguments(op.arity)]
    for xs in points(op, random.Random(op.name)):
        env = dict(zip(names, xs, strict=True))
        try:
            want = op.forward(*xs)
        except (ArithmeticError, ValueError):
            with pytest.raises(_Raised):
                evaluate(d.forward, env)
            continue
        got = evaluate(d.forward, env)
        assert got == want or (math.isnan(got) and math.isnan(want)), (xs, got, want)
        env["out"] = want
        try:
            partials = op.derivative if op.constant else op.derivative(ops.FLOAT, *xs, want)
        except ArithmeticError:  # x ** -0.95 at 5e-324: its slope's factor x ** -0.975 overflows
            assert any(_raises(p, env) for p in d.partials), (op.name, xs)
            continue
        partials = (partials,) if op.arity == 1 else partials
        for p, w in zip(d.partials, partials, strict=True):
            try:
                g = evaluate(p, env)
            except ZeroDivisionError:
                continue  # the table's derivative catches this (a vertical slope); see compile's fallback
            assert g == w or (math.isnan(g) and math.isnan(w)), (op.name, xs, g, w)


def _raises(n: Node, env: dict[str, float]) -> bool:
    try:
        evaluate(n, env)
    except _Raised:
        return True
    return False


def test_trees_are_immutable_and_compared_by_structure() -> None:
    x, y = arguments(2)
    a, b = x * y + 1.0, x * y + 1.0
    assert a is not b and same(a, b) and not same(a, x * y + 2.0)
    assert isinstance(a == b, Compare)  # == builds a comparison, as the table's code expects
    with pytest.raises(AttributeError):
        a.op = "-"  # type: ignore[misc]
    assert uses(a, "x") == 1 and uses(a, "out") == 0 and height(a) == 2


def test_times_writes_the_gradient_into_each_branch_or_around_the_select() -> None:
    (x,) = arguments(1)
    g = Symbol("g")
    step = derive(ops.PRIMITIVES["relu"]).partials
    assert step is not None
    inside = times(g, step[0], into_branches=True)
    around = times(g, step[0], into_branches=False)
    assert isinstance(inside, Select) and same(inside.yes, g)
    assert isinstance(around, Binary) and same(around.a, g) and same(around.b, step[0])
    assert same(times(g, Const(-1.0), into_branches=True), -g) and same(
        times(g, x, into_branches=True), g * x
    )
