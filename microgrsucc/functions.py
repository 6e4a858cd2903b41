"""What is done to Values from outside: the module-level functions and ``gradients``.

``microgrsucc.exp(x)`` and friends are made here from ``ops.PRIMITIVES``, one per primitive
named like an identifier; each takes Values or plain numbers.

>>> from microgrsucc import Value, sin
>>> sin(0.0).data, sin(Value(0.0)).data
(0.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from microgrsucc import backward as reverse
from microgrsucc import ops
from microgrsucc.core import enable_grad, modes_set, state, to_float
from microgrsucc.ops import Primitive
from microgrsucc.value import VALUE, Operand, Value, as_value

__all__ = ["FUNCTIONS", "gradients", "operands_of", "zero_grad"]


def operands_of(op: Primitive, operands: tuple[Operand, ...]) -> list[Value]:
    """The operands of ``op`` as Values: a TypeError naming the op for a wrong count or a non-number."""
    if len(operands) != op.arity:
        raise TypeError(f"{op.name} takes {op.arity} operand(s), got {len(operands)}")
    return [as_value(x, op.name) for x in operands]


def _function(op: Primitive) -> Callable[..., Value]:
    if isinstance(op, ops.Parametric):
        return _with_constants(op)

    def function(*operands: Operand) -> Value:
        values = operands_of(op, operands)
        # The method of the most derived operand's class, so a Dual keeps its tangent.
        cls = max((type(v) for v in values), key=lambda c: len(c.__mro__))
        return getattr(cls, op.name)(*values)  # type: ignore[no-any-return]

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = f"``{op.name}`` of Values or plain numbers, as a Value (see microgrsucc.ops)."
    return function


def _with_constants(op: ops.Parametric) -> Callable[..., Value]:
    def function(x: Operand, *constants: Any, **named: Any) -> Value:
        (value,) = operands_of(op, (x,))
        return getattr(type(value), op.name)(value, *constants, **named)  # type: ignore[no-any-return]

    function.__name__ = function.__qualname__ = op.name
    shown = ", ".join(f"{p}={d!r}" for p, d in zip(op.parameters, op.defaults, strict=True))
    function.__doc__ = (
        f"``{op.name}(x, {shown})`` of a Value or a plain number, as a Value (see microgrsucc.ops)."
    )
    return function


# ops.FLOAT gets the table's forwards here, once the table is complete (see ops.FLOAT).
vars(ops.FLOAT).update({op.name: op.forward for op in ops.PRIMITIVES.values() if op.name.isidentifier()})

FUNCTIONS: dict[str, Callable[..., Value]] = {
    op.name: _function(op) for op in ops.PRIMITIVES.values() if op.name.isidentifier()
}
"""``microgrsucc.exp`` and friends: one function per primitive named like an identifier."""


# --- gradients without .grad -------------------------------------------------------------------


def gradients(root: Value, inputs: Any, gradient: Any = 1.0, *, create_graph: bool = False) -> Any:
    """d(root)/d(x) for each x in ``inputs`` (a list; a single Value gives a single gradient).

    Like ``torch.autograd.grad``: the building block of functional transforms. It reads and
    writes no ``.grad``: the gradients live in storage of its own, so it is safe beside a
    ``backward()`` running on shared parameters in another thread. Inputs the root does not
    depend on get 0.0. It records the gradient graph for ``create_graph=True`` even inside
    ``no_grad()``.

    >>> x = Value(3.0)
    >>> gradients(x * x, x), x.grad
    (6.0, None)
    """
    if isinstance(inputs, Value):
        return gradients(root, [inputs], gradient, create_graph=create_graph)[0]
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"gradients: input {i} must be a Value, got {type(x).__name__}")
    if not isinstance(root, Value):
        raise TypeError(f"gradients: the root must be a Value, got {type(root).__name__}")
    for v in (root, *inputs):
        refuse = getattr(v, "refuse_gradients", None)  # a value traced by compile()
        if refuse is not None:
            refuse()
    if not isinstance(gradient, Value):
        gradient = to_float(gradient, "gradients(gradient)")
    if create_graph:
        with enable_grad():
            grads = reverse.backward_into(root, gradient, VALUE, bool(state.anomaly))
    else:
        grads = reverse.backward_into(root, gradient, ops.FLOAT, bool(modes_set[0] and state.anomaly))
    return [grads.get(x, 0.0) for x in inputs]


def zero_grad(values: Value | Iterable[Value], set_to_none: bool = True) -> None:
    """Clear the ``grad`` of a Value, or of each Value (leaf gradients otherwise accumulate).

    Args:
        values: one Value or an iterable of them.
        set_to_none: as in PyTorch (and its default), set ``grad`` to None, which means "no
            gradient": an optimizer then leaves the Value alone until a ``backward()`` reaches
            it. ``False`` sets a gradient to 0.0, a gradient of zero (which weight decay and
            momentum still act on); a ``grad`` that is None stays None, as in PyTorch.

    >>> x = Value(3.0)
    >>> (x * x).backward()
    >>> zero_grad(x); x.grad is None
    True
    """
    for v in (values,) if isinstance(values, Value) else values:
        if set_to_none or v.grad is None:
            v.grad = None
        else:
            v.grad = 0.0
