# ruff: noqa: RUF001  -- the formulas print the minus sign U+2212
"""formula(root, leaf): the chain rule with symbolic local derivatives, checked by sympy against
the chapter's hand-derived formulas, and by value against backward() on random graphs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from microgrsucc import Value, ops
from microgrsucc.cli.chapter import DEFAULTS, network
from microgrsucc.compiler import tree as T
from microgrsucc.explain import MAX_PATHS, chain_rule, walk
from microgrsucc.formula import formula
from microgrsucc.testing.strategies import graphs

sympy = pytest.importorskip("sympy")


def to_sympy(n: T.Node) -> object:
    """A tree as a sympy expression: this test's own printer of the compiler's tree."""
    if isinstance(n, T.Const):
        return sympy.nsimplify(n.value)
    if isinstance(n, T.Symbol):
        return sympy.Symbol(n.name)
    if isinstance(n, T.Unary):
        a = to_sympy(n.a)
        return -a if n.op == "neg" else sympy.Abs(a)
    if isinstance(n, T.Binary):
        a, b = to_sympy(n.a), to_sympy(n.b)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a**b}[n.op]
    if isinstance(n, T.Call):
        args = [to_sympy(a) for a in n.args]
        if n.fn == "sigmoid":
            return 1 / (1 + sympy.exp(-args[0]))
        return getattr(sympy, n.fn)(*args)
    raise AssertionError(f"no sympy for {n!r}")


def as_sympy(f: object) -> object:
    return sum(
        sympy.nsimplify(c) * sympy.Mul(*[to_sympy(x) for x in factors])
        for c, factors in f.terms  # type: ignore[attr-defined]
    )


# The chapter's formulas (A), (B) and the two bias formulas, with sigmoid'(z) = a(1 - a)
# written in the activations, as chapter 5 and NOTES.md give them (microgrsucc/cli/chapter.py).
a0, a1, a2, y, w1, w2 = sympy.symbols("a0 a1 a2 y w1 w2")
CHAPTER = {
    "w2": a1 * a2 * (1 - a2) * (a2 - y),  # (A)
    "w1": a0 * a1 * (1 - a1) * (a2 - y) * a2 * (1 - a2) * w2,  # (B)
    "b2": a2 * (1 - a2) * (a2 - y),
    "b1": a1 * (1 - a1) * w2 * a2 * (1 - a2) * (a2 - y),
}


@pytest.mark.parametrize("name", sorted(CHAPTER))
def test_the_derived_formulas_are_the_chapters_symbolically(name: str) -> None:
    net = network(**DEFAULTS)
    derived = as_sympy(formula(net.C, getattr(net, name)))
    assert sympy.simplify(derived - CHAPTER[name]) == 0
    # ... and the activations' own definitions do not change that: a = sigmoid(z).
    z1, z2 = sympy.symbols("z1 z2")
    defined = {a2: 1 / (1 + sympy.exp(-z2)), a1: 1 / (1 + sympy.exp(-z1))}
    assert sympy.simplify((derived - CHAPTER[name]).subs(defined)) == 0


def test_the_formula_for_w1_reads_as_the_chapters_formula_b() -> None:
    net = network(**DEFAULTS)
    assert str(formula(net.C, net.w1)) == "∂C/∂w1 = (a2 − y) · a2(1 − a2) · w2 · a1(1 − a1) · a0"
    latex = formula(net.C, net.w1)._repr_latex_()
    assert latex.startswith("$\\frac{\\partial C}{\\partial w_{1}} = ") and latex.endswith("a_{0}$")


def test_a_node_used_twice_keeps_the_sum_over_its_paths() -> None:
    x = Value(0.7, label="x")
    w = Value(-1.2, label="w")
    y = (x * w).sin() + x.exp()
    f = formula(y, x)
    assert len(f.terms) == 2
    sx, sw = sympy.symbols("x w")
    assert sympy.simplify(as_sympy(f) - (sympy.cos(sx * sw) * sw + sympy.exp(sx))) == 0


def test_a_leaf_outside_the_graph_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not in the graph"):
        formula(Value(1.0, label="x").exp(), Value(2.0))


@given(graphs())
def test_each_formula_evaluated_at_the_graphs_values_is_the_engines_gradient(f) -> None:  # type: ignore[no-untyped-def]
    xs = [Value(v, label=f"x{i}") for i, v in enumerate(f.inputs)]
    root = f(*xs)
    if root.is_leaf:
        return
    root.backward()
    below = walk(root)
    # The formula sums the paths in another order than backward() does: where they cancel the
    # two may differ by some ulps of the graph's largest value or gradient (0.0 against 3.6e-12).
    sizes = (abs(z) for v in below for z in (v.data, v.grad or 0.0) if math.isfinite(z))
    floor = max(1e-12, 64 * max(sizes, default=0.0) * 2.0**-52)
    for x in xs:
        if x not in below or chain_rule(root, x).count > MAX_PATHS:
            continue
        value = formula(root, x).evaluate()
        grad = float(x.grad)
        if math.isnan(grad):
            assert math.isnan(value)
        else:
            assert value == pytest.approx(grad, rel=1e-9, abs=floor)


# Members of the families with other constants than the table's: a formula must not write
# leaky_relu(x) for leaky_relu(x, negative_slope=0.2), whose value and slope are not the table's.
MEMBERS = [
    ops.leaky_relu_of(0.2), ops.softplus_of(2.0, 5.0), ops.elu_of(0.5), ops.gelu_of("tanh"),
    ops.clamp_of(-0.5, 0.5), ops.hardtanh_of(-2.0, 3.0), ops.mul, ops.add,
]  # fmt: skip


@given(graphs(primitives=MEMBERS))
def test_formulas_through_ops_with_other_constants_evaluate_to_the_engines_gradient(f) -> None:  # type: ignore[no-untyped-def]
    test_each_formula_evaluated_at_the_graphs_values_is_the_engines_gradient.hypothesis.inner_test(f)  # type: ignore[attr-defined]


def test_a_clamped_value_in_a_formula_is_its_own_symbol_not_the_tables_clamp() -> None:
    x, w = Value(0.2, label="x"), Value(3.0, label="w")
    y = w * x.clamp(min=0.5)  # 0.5 here; the table's clamp (no bounds) of x would be 0.2
    y.label = "y"
    y.backward()
    rule = formula(y, w)
    assert str(rule) == "∂y/∂w = clamp(x, min=0.5)"
    assert rule.evaluate() == w.grad == 0.5
