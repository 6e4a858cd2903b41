"""Hypothesis strategies for property tests of gradient code.

>>> from hypothesis import given
>>> from microgrsucc.testing.strategies import reals
>>> @given(reals(-3, 3))
... def test_square(x): ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import strategies as st

from microgrsucc import ops
from microgrsucc.custom_ops import CustomOp
from microgrsucc.engine import Value, gradients
from microgrsucc.ops import Primitive

__all__ = ["OP_DOMAINS", "Graph", "graphs", "op_arguments", "reals", "values"]


def reals(min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value]."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)


def values(min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy[Value]:
    """Leaf Values with data in [min_value, max_value]."""
    return reals(min_value, max_value).map(Value)


def _away_from(points: tuple[float, ...], margin: float) -> Any:
    return lambda x: all(abs(x - p) > margin for p in points)


# For each primitive, a strategy of argument tuples inside its domain, kept away from kinks
# and domain edges (where a finite difference straddles two pieces), with moderate values
# so float64 central differences are accurate.
OP_DOMAINS: dict[str, st.SearchStrategy[tuple[float, ...]]] = {
    "+": st.tuples(reals(-100, 100), reals(-100, 100)),
    "-": st.tuples(reals(-100, 100), reals(-100, 100)),
    "*": st.tuples(reals(-30, 30), reals(-30, 30)),
    "/": st.tuples(reals(-30, 30), reals(0.1, 30) | reals(-30, -0.1)),
    "**": st.tuples(reals(0.1, 5), reals(-3, 3)),
    "neg": st.tuples(reals(-100, 100)),
    "abs": st.tuples(reals(-50, 50).filter(_away_from((0.0,), 1e-3))),
    "exp": st.tuples(reals(-20, 20)),
    "log": st.tuples(reals(1e-2, 1e3)),
    "sqrt": st.tuples(reals(1e-2, 1e3)),
    "sin": st.tuples(reals(-20, 20)),
    "cos": st.tuples(reals(-20, 20)),
    "tanh": st.tuples(reals(-10, 10)),
    "sigmoid": st.tuples(reals(-30, 30)),
    "relu": st.tuples(reals(-50, 50).filter(_away_from((0.0,), 1e-3))),
}


def op_arguments(name: str) -> st.SearchStrategy[tuple[float, ...]]:
    """Arguments for the primitive ``name`` (see ``OP_DOMAINS``)."""
    return OP_DOMAINS[name]


# --- random computation graphs ----------------------------------------------------------------

# An operand is an affine map of an earlier node: (node index, scale, offset).
_Operand = tuple[int, float, float]


class Graph:
    """A random computation graph over primitives: call it like ``f(*xs)``.

    ``inputs`` is a point where every op sees arguments inside its domain. It takes Values,
    Duals or numbers and returns a Value, so it works with ``backward()``, the transforms,
    ``jvp`` and ``gradcheck`` alike.
    """

    __slots__ = ("inputs", "steps")

    def __init__(
        self, inputs: tuple[float, ...], steps: tuple[tuple[CustomOp, tuple[_Operand, ...]], ...]
    ) -> None:
        self.inputs = inputs
        self.steps = steps

    def __call__(self, *xs: Any) -> Value:
        if len(xs) != len(self.inputs):
            raise TypeError(f"this graph takes {len(self.inputs)} argument(s), got {len(xs)}")
        nodes = list(xs)
        for op, operands in self.steps:
            nodes.append(op(*[nodes[i] * scale + offset for i, scale, offset in operands]))
        out: Value = nodes[-1]
        return out

    def __repr__(self) -> str:
        n = len(self.inputs)
        names = [f"x{i}" for i in range(n)] + [f"v{k}" for k in range(n, n + len(self.steps))]
        lines = [
            f"{names[n + k]} = {op.primitive.name}("
            + ", ".join(f"{scale:.17g} * {names[i]} + {offset:.17g}" for i, scale, offset in operands)
            + ")"
            for k, (op, operands) in enumerate(self.steps)
        ]
        return f"Graph(inputs={self.inputs!r}): " + "; ".join(lines)


def graphs(
    *,
    primitives: Iterable[Primitive | CustomOp] | None = None,
    domains: Mapping[str, st.SearchStrategy[tuple[float, ...]]] | None = None,
    max_inputs: int = 3,
    max_ops: int = 6,
) -> st.SearchStrategy[Graph]:
    """Random graphs of 1 to ``max_ops`` ops on 1 to ``max_inputs`` inputs, with valid inputs.

    ``primitives`` defaults to every op in ``ops.PRIMITIVES``; ``domains`` adds argument
    strategies (as in ``OP_DOMAINS``) for ops that have none there, such as custom ops.
    Each op takes the previous node and earlier nodes at random, each through an affine
    map that puts the argument inside the op's domain at ``inputs`` and keeps its slope
    at most 1, so finite differences of the whole graph stay accurate.

    >>> from hypothesis import given
    >>> from microgrsucc.testing import gradcheck
    >>> @given(graphs())
    ... def test_gradients(f):
    ...     assert gradcheck(f, *f.inputs)
    """
    table = OP_DOMAINS if domains is None else {**OP_DOMAINS, **domains}
    chosen = list(ops.PRIMITIVES.values()) if primitives is None else list(primitives)
    applied = [p if isinstance(p, CustomOp) else CustomOp(p) for p in chosen]
    if not applied:
        raise ValueError("graphs: give at least one primitive")
    for op in applied:
        if op.primitive.name not in table:
            raise ValueError(f"graphs: no domain for the op {op.primitive.name!r}; pass domains={{...}}")
    if max_inputs < 1 or max_ops < 1:
        raise ValueError(f"graphs: max_inputs and max_ops must be >= 1, got {max_inputs}, {max_ops}")
    return _graphs(applied, table, max_inputs, max_ops)


@st.composite
def _graphs(
    draw: st.DrawFn,
    applied: list[CustomOp],
    table: Mapping[str, st.SearchStrategy[tuple[float, ...]]],
    max_inputs: int,
    max_ops: int,
) -> Graph:
    inputs = tuple(draw(st.lists(reals(-3, 3), min_size=1, max_size=max_inputs)))
    leaves = [Value(x) for x in inputs]
    nodes = list(leaves)
    slopes = [1.0] * len(leaves)  # sum of |d node / d input| over the inputs
    steps = []
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(applied))
        targets = draw(table[op.primitive.name])
        operands = []
        for k, target in enumerate(targets):
            i = len(nodes) - 1 if k == 0 else draw(st.integers(0, len(nodes) - 1))  # a chain, plus reuse
            scale = 1.0 / max(1.0, slopes[i])
            operands.append((i, scale, target - scale * nodes[i].data))
        out = op(*[nodes[i] * scale + offset for i, scale, offset in operands])
        nodes.append(out)
        slopes.append(sum(abs(g) for g in gradients(out, leaves)))
        steps.append((op, tuple(operands)))
    return Graph(inputs, tuple(steps))
