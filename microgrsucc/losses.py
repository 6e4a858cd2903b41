"""Loss functions, named and reduced as in ``torch.nn.functional``.

Each loss takes the model's outputs (``input``: one Value or a sequence of them, one per sample)
and the targets (plain numbers), and returns one Value: the ``"mean"`` over the samples
(the default, as in PyTorch) or the ``"sum"``.

>>> from microgrsucc import Value
>>> x = Value(1000.0)
>>> loss = binary_cross_entropy_with_logits(x, 0.0)
>>> loss.backward()
>>> loss.data, x.grad
(1000.0, 1.0)

The two losses on logits go through ``logsumexp`` with the maximum subtracted, so they stay
finite, in value and gradient, for logits of any size.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Literal, SupportsFloat, SupportsIndex

from microgrsucc.value import Operand, Value

__all__ = [
    "logsumexp",
    "logsigmoid",
    "mse_loss",
    "hinge_loss",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
]

Reduction = Literal["mean", "sum"]


def _value(x: Operand) -> Value:
    return x if isinstance(x, Value) else Value(x)


def logsumexp(xs: Sequence[Operand]) -> Value:
    """``log(sum(exp(x) for x in xs))`` without overflow, as ``torch.logsumexp``.

    >>> round(logsumexp([1000.0, 1000.0]).data, 6)
    1000.693147

    When every input is ``-inf`` the result is ``-inf``, as in PyTorch, and each input's
    gradient is ``1/len(xs)``: the softmax's limit as the inputs fall together (PyTorch and
    JAX give NaN there, from ``0/0``). Any ``+inf`` input makes it ``+inf``.
    """
    values = [_value(x) for x in xs]
    if not values:
        raise ValueError("logsumexp of an empty sequence")
    # Shifting by the max keeps every exp() in (0, 1]. The shift is a plain float, not a node:
    # the result does not depend on it, so it owes no gradient.
    m = max(v.data for v in values)
    if m == -math.inf:
        # The sum of the exps is 0, whose log the engine refuses; the mean is -inf as well.
        return _reduce(values, "mean", "logsumexp")
    if m == math.inf:
        m = 0.0
    total = (values[0] - m).exp()
    for v in values[1:]:
        total = total + (v - m).exp()
    return total.log() + m


def _softplus(x: Value) -> Value:
    # log(1 + exp(x)) = logsumexp(0, x): smooth at 0, unlike relu(x) + log(1 + exp(-|x|)),
    # whose relu and abs have derivative 0 at x = 0 and give a gradient of 0 instead of 0.5.
    return logsumexp([0.0, x])


def logsigmoid(x: Operand) -> Value:
    """``log(sigmoid(x))``, finite for any ``x`` (as ``torch.nn.functional.logsigmoid``)."""
    return -_softplus(-_value(x))


def _pairs(input: Operand | Sequence[Operand], target: Any, name: str) -> list[tuple[Value, Any]]:
    """The samples as (output, target) pairs: one pair for a single output, else one per sample."""
    if not isinstance(input, Sequence):
        return [(_value(input), target)]
    if not isinstance(target, Sequence) or len(target) != len(input):
        count = len(target) if isinstance(target, Sequence) else "a single"
        raise ValueError(f"{name}: {len(input)} outputs but {count} targets")
    if not input:
        raise ValueError(f"{name}: no samples")
    return [(_value(x), t) for x, t in zip(input, target, strict=True)]


def _reduce(terms: list[Value], reduction: Reduction, name: str) -> Value:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total / len(terms) if reduction == "mean" else total


def mse_loss(
    input: Operand | Sequence[Operand],
    target: Operand | Sequence[Operand],
    reduction: Reduction = "mean",
) -> Value:
    """Squared error ``(input - target)**2``, averaged (or summed) over the samples."""
    return _reduce([(x - t) ** 2 for x, t in _pairs(input, target, "mse_loss")], reduction, "mse_loss")


def hinge_loss(
    input: Operand | Sequence[Operand],
    target: SupportsFloat | Sequence[SupportsFloat],
    margin: float = 1.0,
    reduction: Reduction = "mean",
) -> Value:
    """Max-margin loss ``relu(margin - target * input)`` for targets -1 or +1 (micrograd's demo loss).

    A sample costs nothing once its score is on the right side by at least ``margin``.
    """
    terms = []
    for x, t in _pairs(input, target, "hinge_loss"):
        if float(t) not in (-1.0, 1.0):
            raise ValueError(f"hinge_loss: targets must be -1 or +1, got {t!r}")
        terms.append((margin - float(t) * x).relu())
    return _reduce(terms, reduction, "hinge_loss")


def binary_cross_entropy_with_logits(
    input: Operand | Sequence[Operand],
    target: SupportsFloat | Sequence[SupportsFloat],
    reduction: Reduction = "mean",
) -> Value:
    """Binary cross-entropy of ``sigmoid(input)`` against targets in [0, 1], from the logits.

    ``-t log sigmoid(x) - (1 - t) log sigmoid(-x)`` is computed as ``softplus(x) - t x``,
    whose gradient ``sigmoid(x) - t`` stays exact for any logit.
    """
    terms = []
    for x, t in _pairs(input, target, "binary_cross_entropy_with_logits"):
        if not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"binary_cross_entropy_with_logits: targets must be in [0, 1], got {t!r}")
        terms.append(_softplus(x) - float(t) * x)
    return _reduce(terms, reduction, "binary_cross_entropy_with_logits")


def _is_index(t: object) -> bool:
    """An integer class index: int, numpy integer, anything with ``__index__`` (but not a bool)."""
    if isinstance(t, bool) or type(t).__name__ in ("bool", "bool_"):  # numpy 1 and 2 bools too
        return False
    try:
        operator.index(t)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def cross_entropy(
    input: Sequence[Operand] | Sequence[Sequence[Operand]],
    target: SupportsIndex | Sequence[SupportsIndex],
    reduction: Reduction = "mean",
) -> Value:
    """Softmax cross-entropy from logits, with class-index targets (as ``torch.nn.functional.cross_entropy``).

    ``input`` is one sample's logits with an integer target (an ``int``, a numpy integer, ...),
    or a list of them with a list of targets. Each sample costs
    ``logsumexp(logits) - logits[target]``.

    >>> round(cross_entropy([0.0, 0.0], 1).data, 6)  # log 2
    0.693147
    """
    if isinstance(target, (str, bytes)) or not hasattr(target, "__len__"):
        samples: list[tuple[Sequence[Operand], object]] = [(input, target)]  # type: ignore[list-item]
    else:
        targets: Sequence[object] = target  # type: ignore[assignment]  # a list, tuple or array
        if len(targets) != len(input) or not input:
            raise ValueError(f"cross_entropy: {len(input)} samples but {len(targets)} targets")
        samples = list(zip(input, targets, strict=True))  # type: ignore[arg-type]
    terms = []
    for logits, t in samples:
        index = operator.index(t) if _is_index(t) else -1  # type: ignore[arg-type]
        if not 0 <= index < len(logits):
            raise ValueError(f"cross_entropy: target {t!r} is not a class index in [0, {len(logits)})")
        values = [_value(x) for x in logits]
        terms.append(logsumexp(values) - values[index])
    return _reduce(terms, reduction, "cross_entropy")
