"""Hypothesis strategies for property tests of gradient code.

>>> from hypothesis import given
>>> from microgrsucc.testing.strategies import reals
>>> @given(reals(-3, 3))
... def test_square(x): ...
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from microgrsucc.engine import Value

__all__ = ["OP_DOMAINS", "op_arguments", "reals", "values"]


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
