"""Hypothesis strategies for property tests of gradient code.

>>> from hypothesis import given
>>> from microgrsucc.testing.strategies import reals
>>> @given(reals(-3, 3))
... def test_square(x): ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hypothesis import strategies as st

from microgrsucc import ops
from microgrsucc.custom_ops import CustomOp
from microgrsucc.functions import gradients
from microgrsucc.ops import Primitive
from microgrsucc.testing.numeric import differences_agree
from microgrsucc.value import Value

__all__ = ["OP_DOMAINS", "Graph", "domain", "graphs", "op_arguments", "reals", "values"]


def reals(min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value]."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)


def values(min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy[Value]:
    """Leaf Values with data in [min_value, max_value]."""
    return reals(min_value, max_value).map(Value)


def _interval_union(intervals: tuple[tuple[float, float], ...]) -> st.SearchStrategy[float]:
    return st.one_of(*[reals(lo, hi) for lo, hi in intervals])


def domain(op: Primitive) -> st.SearchStrategy[tuple[float, ...]]:
    """Argument tuples inside ``op.domain``: away from kinks and domain edges, with moderate
    values, so float64 central differences are accurate there.

    An interval cannot leave out the jumps inside it (``fmod(x, y)`` and ``remainder`` jump
    wherever ``x`` is a multiple of ``y``, and hypothesis draws ``(30.0, -5.0)`` and
    ``(0.0, -5.0)`` often), so points where ``differences_agree`` says differences cannot
    judge are filtered out."""
    forward = op.forward
    return st.tuples(*[_interval_union(intervals) for intervals in op.domain]).filter(
        lambda args: differences_agree(forward, list(args), -1)
    )


class _Domains(Mapping[str, st.SearchStrategy[tuple[float, ...]]]):
    """``OP_DOMAINS[name]``: the domain of each primitive of the table, read when asked."""

    def __getitem__(self, name: str) -> st.SearchStrategy[tuple[float, ...]]:
        return domain(ops.PRIMITIVES[name])

    def __iter__(self) -> Iterator[str]:
        return iter(ops.PRIMITIVES)

    def __len__(self) -> int:
        return len(ops.PRIMITIVES)


OP_DOMAINS: Mapping[str, st.SearchStrategy[tuple[float, ...]]] = _Domains()


def op_arguments(name: str) -> st.SearchStrategy[tuple[float, ...]]:
    """Arguments for the primitive ``name`` of the table (its ``domain``)."""
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

    ``primitives`` defaults to every op in ``ops.PRIMITIVES``; each op's arguments come from
    its ``domain`` (``ops.DEFAULT_DOMAIN`` when it declares none), or from ``domains``, a
    mapping of op name to a strategy of argument tuples.
    Each op takes the previous node and earlier nodes at random, each through an affine
    map that puts the argument inside the op's domain at ``inputs`` and keeps its slope
    at most 1, so finite differences of the whole graph stay accurate.

    >>> from hypothesis import given
    >>> from microgrsucc.testing import gradcheck
    >>> @given(graphs())
    ... def test_gradients(f):
    ...     assert gradcheck(f, *f.inputs)
    """
    chosen = list(ops.PRIMITIVES.values()) if primitives is None else list(primitives)
    applied = [p if isinstance(p, CustomOp) else CustomOp(p) for p in chosen]
    if not applied:
        raise ValueError("graphs: give at least one primitive")
    # A custom op's own domain (or the default one), unless domains= says otherwise.
    table = {op.primitive.name: domain(op.primitive) for op in applied}
    table.update(domains or {})
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
