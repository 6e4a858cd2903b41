"""microgrsucc.functions: what is done to Values from outside (``zero_grad``; the module-level
functions and ``gradients`` are tested with the engine, tests/test_engine.py)."""

from __future__ import annotations

from typing import Any

import pytest

from microgrsucc import Value, zero_grad


@pytest.mark.parametrize("set_to_none", [True, False])
@pytest.mark.parametrize("bad", [3.0, None, "x"])
def test_zero_grad_refuses_an_entry_that_is_no_value_before_clearing_any(set_to_none: bool, bad: Any) -> None:
    a, b = Value(1.0), Value(2.0)
    a.grad, b.grad = 0.5, 0.25
    with pytest.raises(TypeError, match="zero_grad: entry 1 must be a Value"):
        zero_grad([a, bad, b], set_to_none)
    assert (a.grad, b.grad) == (0.5, 0.25)  # it cleared a, then raised at entry 1


def test_zero_grad_takes_a_generator_once() -> None:
    values = [Value(1.0), Value(2.0)]
    for v in values:
        v.grad = 1.0
    zero_grad(v for v in values)
    assert [v.grad for v in values] == [None, None]
