"""The optimizers' steps on a ``FlatParameter``'s arrays, and the ``lerp`` both kinds of step use.

``optim.SGD(flat)``, ``optim.Adam(flat)`` and ``optim.AdamW(flat)`` call these. Each line
of the per-Value loop in ``optim`` is one array operation here, over the elements that have
a gradient, with the same float operations in the same order: numpy's float64 ``+ - * /``
and ``sqrt`` round as Python's floats do (IEEE 754, correctly rounded), so the arrays end
bit for bit where the per-Value steps take the Values. Where a per-Value rule branches, on an
element's own numbers, ``np.where`` takes the branch element by element.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from microgrsucc.flat import FlatParameter

__all__ = ["lerp", "sgd_step", "adam_step"]

State = dict[str, Any]


def lerp(start: Any, end: Any, weight: float) -> Any:
    """``start + weight * (end - start)`` as ``torch.lerp`` rounds it: from the nearer end, so
    that weight 1 gives ``end`` exactly (with ``betas[0] = 0``, m is the gradient itself).

    Args:
        start, end: floats, or float64 arrays of one shape.
        weight: a float (the same branch for every element).
    """
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


def _gradients(flat: FlatParameter, maximize: bool) -> tuple[Any, Any] | None:
    """The positions of ``flat`` that have a gradient (a full slice when all do) and their
    gradients, negated with ``maximize``; None when no element has one."""
    has = flat.has_grad
    if has.all():
        at: Any = slice(None)
    else:
        at = has.nonzero()[0]
        if not len(at):
            return None
    grad = flat.grad[at]  # for the full slice, a view: never changed in place below
    return at, (-grad if maximize else grad)


def sgd_step(
    flat: FlatParameter,
    states: dict[Any, State],
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """``optim.SGD.step()`` on ``flat``'s arrays; its state is ``states[flat]``.

    Args:
        flat: the parameters; ``flat.data`` changes where ``flat.has_grad`` is True.
        states: the optimizer's ``state``; ``states[flat]`` is made at the first step with a
            gradient (with momentum): ``momentum_buffer`` and ``has_momentum_buffer``.
        lr, momentum, dampening, weight_decay, nesterov, maximize: as ``optim.SGD``'s.
    """
    import numpy as np

    found = _gradients(flat, maximize)
    if found is None:
        return
    at, g = found
    data = flat.data[at]
    with np.errstate(all="ignore"):  # inf * 0 is NaN without a warning, as for floats
        if weight_decay != 0.0:
            g = g + weight_decay * data
        if momentum != 0.0:
            state = states.get(flat)
            if state is None:  # one buffer for all; an element's starts at its first gradient
                n = len(flat)
                states[flat] = state = {
                    "momentum_buffer": np.zeros(n),
                    "has_momentum_buffer": np.zeros(n, dtype=bool),
                }
            begun = state["has_momentum_buffer"][at]
            b = momentum * state["momentum_buffer"][at] + (1.0 - dampening) * g
            if not begun.all():
                b = np.where(begun, b, g)
            state["momentum_buffer"][at] = b
            state["has_momentum_buffer"][at] = True
            g = g + momentum * b if nesterov else b
        flat.data[at] = data - lr * g


def adam_step(
    flat: FlatParameter,
    states: dict[Any, State],
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
) -> None:
    """``optim.Adam.step()`` (``optim.AdamW.step()`` with ``decoupled``) on ``flat``'s arrays.

    Args:
        flat: the parameters; ``flat.data`` changes where ``flat.has_grad`` is True.
        states: the optimizer's ``state``; ``states[flat]`` is made at the first step with a
            gradient: ``step`` (int64, per element), ``exp_avg``, ``exp_avg_sq`` and, with
            ``amsgrad``, ``max_exp_avg_sq``.
        lr, betas, eps, weight_decay, amsgrad, maximize: as ``optim.Adam``'s.
        decoupled: AdamW's weight decay, of the parameter instead of in the gradient.
    """
    import numpy as np

    found = _gradients(flat, maximize)
    if found is None:
        return
    at, g = found
    b1, b2 = betas
    state = states.get(flat)
    if state is None:
        n = len(flat)
        states[flat] = state = {
            "step": np.zeros(n, dtype=np.int64),  # per element: 0 until its first gradient
            "exp_avg": np.zeros(n),
            "exp_avg_sq": np.zeros(n),
        }
        if amsgrad:
            state["max_exp_avg_sq"] = np.zeros(n)
    t = state["step"][at] + 1
    state["step"][at] = t
    data = flat.data[at]
    with np.errstate(all="ignore"):  # inf * 0 is NaN without a warning, as for floats
        if weight_decay != 0.0:
            if decoupled:
                data = data * (1.0 - lr * weight_decay)
            else:
                g = g + weight_decay * data
        m = state["exp_avg"][at] = lerp(state["exp_avg"][at], g, 1.0 - b1)
        v = b2 * state["exp_avg_sq"][at] + (1.0 - b2) * g * g
        state["exp_avg_sq"][at] = v
        if amsgrad:
            top = state["max_exp_avg_sq"][at]
            v = np.where((top >= v) | np.isnan(top), top, v)
            state["max_exp_avg_sq"][at] = v
        bias1, root_bias2 = _corrections(t, b1, b2)
        step = -(lr / bias1) * m
        denominator = np.sqrt(v) / root_bias2 + eps
        change = step / denominator
        if eps == 0.0:  # the per-Value branch, where it differs from IEEE (a NaN step)
            zero = denominator == 0.0
            if zero.any():
                change = np.where(zero, np.where(step == 0.0, np.nan, np.copysign(np.inf, step)), change)
        flat.data[at] = data + change


def _corrections(t: Any, b1: float, b2: float) -> tuple[Any, Any]:
    """Adam's ``1 - b1**t`` and ``(1 - b2**t) ** 0.5`` for an int array of steps ``t``, each
    computed once per distinct step with Python's ``**`` (the C library's ``pow``, which
    numpy's own ``power`` need not match to the bit): floats when every element is at the
    same step, else float64 arrays."""
    import numpy as np

    low, high = int(t.min()), int(t.max())
    if low == high:
        return 1.0 - b1 ** float(low), (1.0 - b2 ** float(low)) ** 0.5
    steps, where = np.unique(t, return_inverse=True)
    bias1 = np.array([1.0 - b1 ** float(s) for s in steps.tolist()])
    root_bias2 = np.array([(1.0 - b2 ** float(s)) ** 0.5 for s in steps.tolist()])
    return bias1[where], root_bias2[where]
