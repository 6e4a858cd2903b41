"""Forward mode: ``Dual`` numbers that carry a tangent alongside each value.

A Dual is a Value whose ops also push a tangent forward: the primal comes from the
primitive's ``forward`` and the tangent is the sum of the primitive's partials (the same
table entry ``backward()`` uses, evaluated on floats) times the operands' tangents. Nothing
runs backward, so one pass gives one directional derivative (see ``transforms.jvp``).

Because a Dual is a Value, code written for Values (operators, ``x.sin()``,
``microgrsucc.sin(x)``) runs on it unchanged; its op methods come from the same table, by
``recording.install_ops``. Plain Values and numbers meeting a Dual are constants: their tangent
is 0. Tangents are floats, so forward mode does not nest with itself or with reverse-mode
transforms.

>>> x = Dual(2.0, tangent=1.0)
>>> y = x * x + x.sin()
>>> round(y.tangent, 6)  # d/dx (x*x + sin x) = 2x + cos x at 2
3.583853
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, SupportsFloat

from microgrsucc import ops
from microgrsucc.core import call, modes_set, state, to_float
from microgrsucc.ops import Primitive
from microgrsucc.recording import install_ops, recorder
from microgrsucc.value import Value, as_value

__all__ = ["Dual", "lift"]


class Dual(Value):
    """A Value with a tangent: ``data + tangent * ε`` where ``ε² = 0``.

    >>> y = Dual(3.0, tangent=1.0) ** 2
    >>> y.data, y.tangent
    (9.0, 6.0)
    """

    __slots__ = ("tangent",)
    owns_ops = True  # c.maximum(dual) keeps the tangent

    tangent: float

    def __init__(self, data: SupportsFloat, tangent: SupportsFloat = 0.0, label: str | None = None) -> None:
        super().__init__(data, label)
        self.tangent = to_float(tangent, "Dual tangent")

    def __repr__(self) -> str:
        label = "" if self.label is None else f", label={self.label!r}"
        return f"Dual(data={self.data!r}, tangent={self.tangent!r}{label})"


def lift(op: Primitive) -> Callable[..., Any]:
    """The forward-mode version of ``op``: applied to Duals, Values or numbers, it returns a Dual.

    The node is recorded as any Value's (``recording.recorder``), so .op/.inputs, drawing and
    the anomaly messages work; forward mode adds the tangent, its one rule. Returns
    NotImplemented for an operand that is not a real number, so Python's operator protocol
    raises its usual TypeError.
    """
    record = recorder(op, Dual)
    constant = op.derivative if op.constant else None

    def apply(*operands: Any) -> Any:
        inputs = [as_value(x) for x in operands]  # a Value as it is, a number as a leaf
        if any(x is NotImplemented for x in inputs):
            return NotImplemented
        out: Dual = record(*inputs)  # type: ignore[assignment]
        partials = (
            constant
            if constant is not None
            else op.derivative(ops.FLOAT, *(x.data for x in inputs), out._out)
        )
        tangent = 0.0
        for d, x in zip((partials,) if op.arity == 1 else partials, inputs, strict=True):
            # The same factors as reverse mode, a zero tangent included: 0 * inf is NaN
            # there too (sqrt(x * x) at 0, as torch). Only a constant, which has no tangent
            # at all, contributes nothing, even where its partial is inf or nan (d/dy x**y at
            # x < 0), as torch skips an input without a tangent.
            if x.__class__ is Dual:
                tangent += d * x.tangent
        out.tangent = float(tangent)
        if modes_set[0] and state.anomaly and not math.isfinite(out.tangent):
            primals = [x.data for x in inputs]
            raise FloatingPointError(f"the tangent of {call(op, primals)} is {out.tangent}")
        return out

    apply.__name__ = apply.__qualname__ = op.name
    apply.__doc__ = f"Apply the primitive ``{op.name}`` in forward mode (see microgrsucc.ops)."
    return apply


# Every op method of Value, again in forward mode. Python tries a subclass's reflected
# method first, so ``value + dual`` reaches Dual.__radd__ and keeps the tangent.
install_ops(Dual, lift)
