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
from microgrsucc.core import modes_set, recording_gradients, state, to_float
from microgrsucc.ops import Primitive
from microgrsucc.recording import VALUE
from microgrsucc.value import Operand, Value, as_value, check_has_graph

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
    """The gradients of ``root`` with respect to ``inputs``, without touching any ``.grad``.

    Like ``torch.autograd.grad``: the building block of the functional transforms. The
    gradients live in storage of this call, so it is safe beside a ``backward()`` running
    on shared parameters in another thread. Derivatives are taken at the values the
    forward pass saw.

    Args:
        root: the Value to differentiate (a scalar).
        inputs: a Value, or an iterable of Values, to differentiate with respect to.
        gradient: d(loss)/d(root), the factor every gradient is multiplied by (a real
            number, or a Value, whose graph is followed only with ``create_graph``); 1.0
            gives plain derivatives.
        create_graph: if True, every gradient is a Value with a graph (recorded even
            inside ``no_grad()``), to differentiate again; one that is constant is a leaf.

    Returns:
        d(root)/d(x) times ``gradient`` for each x of ``inputs``, in order: a list, or a
        single gradient for a single Value. An input the root does not depend on gets 0.0.
        Floats, or Values with ``create_graph=True``.

    Raises:
        TypeError: ``root`` or an input is not a Value, or ``gradient`` is not a number.
        RuntimeError: ``root`` was computed under ``no_grad()`` (it has no graph; torch
            says it does not require grad), or, with ``create_graph=True``, a node's value
            was changed in place after the forward pass.
        FloatingPointError: inside ``detect_anomaly()``, a gradient is NaN or infinite
            (the message names the op).

    >>> x = Value(3.0)
    >>> gradients(x * x, x), gradients(x * x, [x, Value(1.0)]), x.grad
    (6.0, [6.0, 0.0], None)
    """
    if isinstance(inputs, Value):
        return gradients(root, [inputs], gradient, create_graph=create_graph)[0]
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"gradients: input {i} must be a Value, got {type(x).__name__}")
    if not isinstance(root, Value):
        raise TypeError(f"gradients: the root must be a Value, got {type(root).__name__}")
    check_has_graph(root, "gradients")
    if state.compiling:
        raise TypeError(
            "compile: sample_loss took a gradient (grad, value_and_grad, hessian or gradients); "
            "compile cannot trace a derivative inside the loss (its value would be frozen at "
            "trace time): write the derivative as ops, or use the eager engine for this loss"
        )
    if not isinstance(gradient, Value):
        gradient = to_float(gradient, "gradients(gradient)")
    elif not create_graph:  # its value only: no graph is recorded (torch's too)
        gradient = gradient.data
    if create_graph:
        # Every gradient a Value, even through linear ops (whose partials are numbers); the
        # anomaly check is per node of root's graph, so that its error names the user's op.
        gradient = as_value(gradient)
        check = bool(state.anomaly)
        with recording_gradients():
            grads = reverse.backward_into(root, gradient, VALUE, check)
        return [grads[x] if x in grads else as_value(0.0) for x in inputs]
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

    Raises:
        TypeError: ``values`` is not a Value or an iterable, or an entry is not a Value.

    >>> x = Value(3.0)
    >>> (x * x).backward()
    >>> zero_grad(x); x.grad is None
    True
    """
    if not isinstance(values, (Value, Iterable)):
        raise TypeError(f"zero_grad expects a Value or an iterable of Values, got {type(values).__name__}")
    entries = [values] if isinstance(values, Value) else list(values)
    for i, v in enumerate(entries):  # all checked first: a bad entry leaves every grad as it was
        if not isinstance(v, Value):
            raise TypeError(f"zero_grad: entry {i} must be a Value, got {type(v).__name__}")
    for v in entries:
        if set_to_none or v.grad is None:
            v.grad = None
        else:
            v.grad = 0.0
