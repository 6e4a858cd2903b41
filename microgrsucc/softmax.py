"""``logsumexp``, ``logsigmoid``, ``softmax`` and ``log_softmax`` over a list of Values, as torch's.

Both subtract the largest input first (a plain float: the result does not depend on it, so it
owes no gradient), so no ``exp`` overflows and a log-probability keeps its digits, for logits of
any size. ``microgrsucc.losses`` has them too, beside ``nll_loss`` and ``cross_entropy``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from microgrsucc.reduction import nan_max, operand, reduce
from microgrsucc.value import Operand, Value, as_value

__all__ = ["log_softmax", "logsigmoid", "logsumexp", "nll_of_softmax", "softmax"]


def _shifted(xs: Sequence[Operand], name: str) -> tuple[list[Value], Value]:
    """``x - max`` for each x (the max a constant, as in ``logsumexp``) and ``log(sum(exp(.)))``
    of those: torch's steps, so no exp overflows and a log-probability keeps its digits."""
    values = [as_value(x, name) for x in xs]
    if not values:
        raise ValueError(f"{name} of an empty sequence")
    m = max(v.data for v in values)  # ±inf makes every x - m NaN, as torch's (inf - inf)
    shifted = [v - m for v in values]
    total = shifted[0].exp()
    for v in shifted[1:]:
        total = total + v.exp()
    return shifted, total


def log_softmax(xs: Sequence[Operand]) -> list[Value]:
    """The log-probabilities ``x - logsumexp(xs)`` of a list of logits, finite for logits of any
    size (as ``torch.log_softmax`` over one dimension; NaN where torch's is, e.g. ``inf``).

    >>> [round(v.data, 6) for v in log_softmax([0.0, 0.0])]
    [-0.693147, -0.693147]
    """
    shifted, total = _shifted(xs, "log_softmax")
    log_total = total.log()
    return [v - log_total for v in shifted]


def softmax(xs: Sequence[Operand]) -> list[Value]:
    """The probabilities ``exp(x) / sum(exp(xs))`` of a list of logits, with the max subtracted
    so no ``exp`` overflows (as ``torch.softmax`` over one dimension; NaN where torch's is, e.g.
    all inputs ``-inf``).

    >>> [v.data for v in softmax([1000.0, 1000.0])]
    [0.5, 0.5]
    """
    shifted, total = _shifted(xs, "softmax")
    return [v.exp() / total for v in shifted]


def logsumexp(xs: Sequence[Operand]) -> Value:
    """``log(sum(exp(x) for x in xs))`` without overflow, as ``torch.logsumexp``.

    Args:
        xs: one or more Values or numbers.

    Returns:
        A Value. Any NaN input makes it NaN (every gradient NaN); any ``+inf`` input makes it
        ``+inf``, with gradient NaN for the ``+inf`` inputs and 0 for the others, as PyTorch.

    Raises:
        ValueError: ``xs`` is empty.

    >>> round(logsumexp([1000.0, 1000.0]).data, 6)
    1000.693147

    When every input is ``-inf`` the result is ``-inf``, as in PyTorch, and each input's
    gradient is ``1/len(xs)``: the softmax's limit as the inputs fall together (PyTorch and
    JAX give NaN there, from ``0/0``).
    """
    values = [operand(x) for x in xs]
    if not values:
        raise ValueError("logsumexp of an empty sequence")
    # Shifting by the max keeps every exp() in (0, 1]. The shift is a plain float, not a node:
    # the result does not depend on it, so it owes no gradient.
    m = nan_max([v.data for v in values])
    if m == -math.inf:
        # The sum of the exps is 0, whose log the engine refuses; the mean is -inf as well.
        return reduce(values, "mean", "logsumexp")
    if m == math.inf:
        # Shift by the largest finite input instead: exp(inf) = inf keeps the sum inf, and
        # no finite input's exp overflows (exp(1000) raises, where a tensor would give inf).
        m = max((d for v in values if math.isfinite(d := v.data)), default=0.0)
    total = (values[0] - m).exp()
    for v in values[1:]:
        total = total + (v - m).exp()
    return total.log() + m


def _softplus(x: Value) -> Value:
    # log(1 + exp(x)) = logsumexp(0, x): smooth at 0, unlike relu(x) + log(1 + exp(-|x|)),
    # whose relu and abs have derivative 0 at x = 0 and give a gradient of 0 instead of 0.5.
    if x.data == math.inf:
        # softplus(x) -> x with slope 1: logsumexp would give the +inf input a NaN gradient
        # (exp(inf) * 0), where PyTorch's logsigmoid(-inf) has gradient 1.
        return x + 0.0
    return logsumexp([0.0, x])


def logsigmoid(x: Operand) -> Value:
    """``log(sigmoid(x))``, finite for any finite ``x`` (as ``torch.nn.functional.logsigmoid``).

    Args:
        x: a Value or a number.

    Returns:
        A Value with gradient ``1 - sigmoid(x)``: 1 at ``x = -inf``, 0 at ``+inf``, as PyTorch.

    >>> y = Value(-1000.0)
    >>> out = logsigmoid(y)
    >>> out.backward()
    >>> out.data, y.grad
    (-1000.0, 1.0)
    """
    return -_softplus(-operand(x))


def nll_of_softmax(values: list[Value], index: int) -> Value:
    """``-log_softmax(values)[index]`` as PyTorch's kernel computes it.

    Shifted by the max, with no exception for an infinite max: any infinite logit makes every
    value and gradient of the sample NaN (``inf - inf``), as in ``torch.nn.functional.cross_entropy``.
    """
    m = nan_max([v.data for v in values])
    total = (values[0] - m).exp()
    for v in values[1:]:
        total = total + (v - m).exp()
    # torch's order: (log(total) + m) - x rounds log(total) away at a large m ([1e16, 1e16]: 0)
    return total.log() - (values[index] - m)
