"""explain: the names the pictures, the page and the formulas give the nodes of a graph.

A node made by a member of an op's family (``x.leaky_relu(0.2)``) is named with the constants
that are not the defaults, in PyTorch's spelling, so the name says which function it is; and
where torch is installed, torch itself evaluates that name to the node's value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrsucc import Value
from microgrsucc.explain import MAX_LABEL, chain_rule, names
from microgrsucc.testing.strategies import reals

# (what the user writes, the name PyTorch's call of the same function has)
MEMBERS: list[tuple[Callable[[Value], Value], str]] = [
    (lambda x: x.leaky_relu(0.2), "leaky_relu(x, negative_slope=0.2)"),
    (lambda x: x.leaky_relu(negative_slope=0.01), "leaky_relu(x)"),  # the default: no constant
    (lambda x: x.softplus(beta=2), "softplus(x, beta=2.0)"),
    (lambda x: x.softplus(1.0, 5.0), "softplus(x, threshold=5.0)"),
    (lambda x: x.gelu(approximate="tanh"), "gelu(x, approximate='tanh')"),
    (lambda x: x.elu(0.5), "elu(x, alpha=0.5)"),
    (lambda x: x.celu(alpha=2.0), "celu(x, alpha=2.0)"),
    (lambda x: x.hardtanh(-2.0, 3.0), "hardtanh(x, min_val=-2.0, max_val=3.0)"),
    (lambda x: x.clamp(max=1), "clamp(x, max=1.0)"),
    (lambda x: x.clamp(-0.5, 0.5), "clamp(x, min=-0.5, max=0.5)"),
    (lambda x: x.clamp(min=Value(0.0, label="lo")), "clamp_min(x, lo)"),  # a bound that is a Value
]


@pytest.mark.parametrize("make, name", MEMBERS, ids=[m[1] for m in MEMBERS])
def test_a_family_member_is_named_with_its_other_constants_as_pytorch_spells_them(
    make: Callable[[Value], Value], name: str
) -> None:
    x = Value(0.7, label="x")
    y = make(x)
    assert names(y)[y] == name
    z = y * Value(2.0, label="w")
    z.label = "z"
    assert names(z)[y] == name
    assert f"∂z/∂{name} · ∂{name}/∂x" in chain_rule(z, x).lines(width=200)[0]


def test_an_expression_past_the_name_limit_is_numbered_but_its_constants_do_not_count() -> None:
    x = Value(0.7, label="x")
    inner = (x * x).leaky_relu(0.2)  # leaky_relu(x*x): 15 characters, a name
    longer = (x * x * x * x * x).leaky_relu(0.2)  # leaky_relu(x*x*x*x*x): 21, past the limit
    assert names(inner)[inner] == "leaky_relu(x*x, negative_slope=0.2)"
    assert names(longer)[longer].startswith("#") and len(names(longer)[longer]) < MAX_LABEL


@pytest.fixture(scope="module")
def functional(torch: Any) -> dict[str, Any]:
    """PyTorch's functions of the names: torch.nn.functional's and torch's clamp."""
    found = {name: getattr(torch.nn.functional, name) for name in ("leaky_relu", "softplus", "gelu")}
    found.update(elu=torch.nn.functional.elu, celu=torch.nn.functional.celu)
    found.update(hardtanh=torch.nn.functional.hardtanh, clamp=torch.clamp, clamp_min=torch.clamp_min)
    return found


@settings(max_examples=20)
@given(x=reals(-5.0, 5.0), slope=reals(-2.0, 2.0), beta=reals(0.5, 4.0), low=reals(-3.0, 3.0), data=st.data())
def test_torch_evaluates_each_name_to_the_nodes_value(
    functional: dict[str, Any], x: float, slope: float, beta: float, low: float, data: st.DataObject
) -> None:
    import torch

    high = data.draw(reals(low, 4.0))
    made = [
        lambda v: v.leaky_relu(slope),
        lambda v: v.softplus(beta=beta),
        lambda v: v.elu(alpha=beta),
        lambda v: v.celu(beta),
        lambda v: v.hardtanh(low, high),
        lambda v: v.clamp(min=low),
        lambda v: v.clamp(low, high),
        lambda v: v.gelu(approximate="tanh"),
    ]
    for make in made:
        y = make(Value(x, label="x"))
        scope = {**functional, "x": torch.tensor(x, dtype=torch.float64)}
        want = eval(names(y)[y], {"__builtins__": {}}, scope).item()  # the name is the engine's own text
        # Near enough to tell the members apart; torch's gelu cancels in the left tail (docs/ops.md).
        assert math.isclose(y.data, want, rel_tol=1e-9, abs_tol=1e-14), (names(y)[y], y.data, want)
