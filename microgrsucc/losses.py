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

The two losses on logits subtract the maximum before ``exp``, so they stay finite, in value
and gradient, for finite logits of any size; at infinite and NaN logits they give what
PyTorch float64 gives (see each function).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Literal, SupportsFloat, SupportsIndex

from microgrsucc.custom_ops import custom_op
from microgrsucc.reduction import (
    Reduction,
    batch_rows,
    check_reduction,
    constant,
    exp_of_target,
    is_index,
    operand,
    pairs,
    probability,
    reduce,
    target_number,
    target_rows,
)
from microgrsucc.softmax import log_softmax, logsigmoid, logsumexp, nll_of_softmax, softmax
from microgrsucc.value import Operand, Value

__all__ = [
    "logsumexp",
    "logsigmoid",
    "mse_loss",
    "hinge_loss",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "nll_loss",
    "kl_div",
    "binary_cross_entropy",
    "log_softmax",
    "softmax",
]


def mse_loss(
    input: Operand | Sequence[Operand],
    target: Operand | Sequence[Operand],
    reduction: Reduction = "mean",
) -> Value:
    """Squared error ``(input - target)**2``, averaged (or summed) over the samples.

    As ``torch.nn.functional.mse_loss``.

    Args:
        input: the model's output, one Value (or number) or a sequence of them, one per sample.
        target: the wanted values, matching ``input``; Values here get gradients too.
        reduction: ``"mean"`` (the default) or ``"sum"`` over the samples.

    Returns:
        One Value.

    Raises:
        ValueError: ``input`` and ``target`` differ in length, there are no samples, or
            ``reduction`` is unknown.

    >>> mse_loss([1.0, 2.0], [0.0, 0.0]).data
    2.5
    """
    return reduce([(x - t) ** 2 for x, t in pairs(input, target, "mse_loss")], reduction, "mse_loss")


def hinge_loss(
    input: Operand | Sequence[Operand],
    target: SupportsFloat | Sequence[SupportsFloat],
    margin: float = 1.0,
    reduction: Reduction = "mean",
) -> Value:
    """Max-margin loss ``relu(margin - target * input)`` for targets -1 or +1 (micrograd's demo loss).

    A sample costs nothing once its score is on the right side by at least ``margin``.
    PyTorch has no such function; it matches ``torch.relu(margin - target * input)``, except
    at a NaN score, whose gradient here is NaN (PyTorch's relu passes the gradient through).

    Args:
        input: the model's scores, one Value or a sequence of them, one per sample.
        target: -1 or +1 for each sample (plain numbers).
        margin: how far past 0 a score must be to cost nothing.
        reduction: ``"mean"`` (the default) or ``"sum"`` over the samples.

    Returns:
        One Value.

    Raises:
        ValueError: a target other than -1 or +1, lengths that differ, no samples, or an
            unknown ``reduction``.

    >>> hinge_loss([2.0, 0.5], [1, 1]).data  # (0 + 0.5) / 2
    0.25
    """
    margin = constant(margin, "hinge_loss: margin")
    terms = []
    for x, t in pairs(input, target, "hinge_loss"):
        sign = target_number(t, "hinge_loss")
        if sign not in (-1.0, 1.0):
            raise ValueError(f"hinge_loss: targets must be -1 or +1, got {t!r}")
        terms.append((margin - sign * x).relu())
    return reduce(terms, reduction, "hinge_loss")


def binary_cross_entropy_with_logits(
    input: Operand | Sequence[Operand],
    target: SupportsFloat | Sequence[SupportsFloat],
    reduction: Reduction = "mean",
) -> Value:
    """Binary cross-entropy of ``sigmoid(input)`` against targets in [0, 1], from the logits.

    ``-t log sigmoid(x) - (1 - t) log sigmoid(-x)`` is computed as PyTorch computes it,
    ``(1 - t) x - logsigmoid(x)``, whose gradient ``sigmoid(x) - t`` stays exact for any
    logit, infinite ones included (``x = inf, t = 0`` costs ``inf`` with gradient 1). Where
    the value is ``inf - inf`` or ``0 * inf`` (an infinite logit the target does not pick
    wholly, or ``x = inf, t = 1``), it is NaN, as in PyTorch.

    Args:
        input: the logits, one Value (or number) or a sequence of them, one per sample.
        target: the wanted probability of class 1 for each sample, in [0, 1].
        reduction: ``"mean"`` (the default) or ``"sum"`` over the samples.

    Returns:
        One Value.

    Raises:
        ValueError: a target outside [0, 1] (NaN included), lengths that differ, no samples,
            or an unknown ``reduction``.
    """
    terms = []
    for x, t in pairs(input, target, "binary_cross_entropy_with_logits"):
        p = probability(t, "binary_cross_entropy_with_logits", f"targets must be in [0, 1], got {t!r}")
        terms.append((1.0 - p) * x - logsigmoid(x))
    return reduce(terms, reduction, "binary_cross_entropy_with_logits")


def cross_entropy(
    input: Sequence[Operand] | Sequence[Sequence[Operand]],
    target: SupportsIndex | Sequence[SupportsIndex],
    reduction: Reduction = "mean",
) -> Value:
    """Softmax cross-entropy from logits, with class-index targets (as ``torch.nn.functional.cross_entropy``).

    ``input`` is one sample's logits with an integer target (an ``int``, a numpy integer, ...),
    or a list of them with a list of targets. Each sample costs
    ``logsumexp(logits) - logits[target]``, computed as PyTorch does: finite for finite logits
    of any size; NaN, in value and every gradient of the sample, if a logit is infinite or NaN.

    Args:
        input: one sample's logits (a sequence of C Values or numbers), or a sequence of N
            such samples.
        target: the class index in ``[0, C)`` of the sample, or a sequence of N of them.
        reduction: ``"mean"`` (the default) or ``"sum"`` over the samples.

    Returns:
        One Value.

    Raises:
        ValueError: a target that is not an integer class index, a number of targets other than
            the number of samples, or an unknown ``reduction``.

    >>> round(cross_entropy([0.0, 0.0], 1).data, 6)  # log 2
    0.693147
    """
    if is_index(target) or isinstance(target, (str, bytes)) or not hasattr(target, "__len__"):
        samples: list[tuple[Sequence[Operand], object]] = [(input, target)]  # type: ignore[list-item]
    else:
        targets: Sequence[object] = target  # type: ignore[assignment]  # a list, tuple or array
        if len(targets) != len(input) or len(input) == 0:
            raise ValueError(f"cross_entropy: {len(input)} samples but {len(targets)} targets")
        samples = list(zip(input, targets, strict=True))  # type: ignore[arg-type]
    terms = []
    for logits, t in samples:
        index = operator.index(t) if is_index(t) else -1  # type: ignore[arg-type]
        if not 0 <= index < len(logits):
            raise ValueError(f"cross_entropy: target {t!r} is not a class index in [0, {len(logits)})")
        terms.append(nll_of_softmax([operand(x) for x in logits], index))
    return reduce(terms, reduction, "cross_entropy")


# --- more of torch.nn.functional's losses (softmax, log_softmax: softmax.py) ------------------------


def l1_loss(
    input: Operand | Sequence[Operand],
    target: Operand | Sequence[Operand],
    reduction: Reduction = "mean",
) -> Value:
    """Absolute error ``|input - target|``, averaged (or summed) over the samples; its slope at
    a tie is 0 (torch's ``sign``).

    >>> l1_loss([1.0, -2.0], [0.0, 0.0]).data
    1.5
    """
    check_reduction(reduction, "l1_loss")
    return reduce([abs(x - t) for x, t in pairs(input, target, "l1_loss")], reduction, "l1_loss")


def smooth_l1_loss(
    input: Operand | Sequence[Operand],
    target: Operand | Sequence[Operand],
    reduction: Reduction = "mean",
    beta: float = 1.0,
) -> Value:
    """``0.5 d**2 / beta`` where ``|d| < beta`` (``d = input - target``), else ``|d| - 0.5 beta``:
    quadratic near 0, linear beyond; ``beta = 0`` is ``l1_loss`` (as torch's).

    Raises:
        ValueError: for a negative ``beta`` (torch's message).
    """
    check_reduction(reduction, "smooth_l1_loss")
    beta = constant(beta, "smooth_l1_loss: beta")
    if beta < 0.0:
        raise ValueError("smooth_l1_loss does not support negative values for beta.")
    terms = []
    for x, t in pairs(input, target, "smooth_l1_loss"):
        d = x - t
        terms.append(0.5 * d * d / beta if abs(d.data) < beta else abs(d) - 0.5 * beta)
    return reduce(terms, reduction, "smooth_l1_loss")


def huber_loss(
    input: Operand | Sequence[Operand],
    target: Operand | Sequence[Operand],
    reduction: Reduction = "mean",
    delta: float = 1.0,
) -> Value:
    """``0.5 d**2`` where ``|d| < delta`` (``d = input - target``), else ``delta (|d| - 0.5 delta)``:
    ``smooth_l1_loss`` times ``beta``, with ``delta`` for ``beta`` (as torch's).

    Raises:
        ValueError: for ``delta <= 0`` (torch's message).
    """
    check_reduction(reduction, "huber_loss")
    delta = constant(delta, "huber_loss: delta")
    if not delta > 0.0:
        raise ValueError("huber_loss does not support non-positive values for delta.")
    terms = []
    for x, t in pairs(input, target, "huber_loss"):
        d = x - t
        terms.append(0.5 * d * d if abs(d.data) < delta else delta * (abs(d) - 0.5 * delta))
    return reduce(terms, reduction, "huber_loss")


def nll_loss(
    input: Sequence[Operand] | Sequence[Sequence[Operand]],
    target: SupportsIndex | Sequence[SupportsIndex],
    reduction: Reduction = "mean",
) -> Value:
    """Negative log-likelihood ``-input[target]`` of log-probabilities (``log_softmax``'s output),
    with class-index targets: one sample's list with an integer target, or lists of both.

    ``cross_entropy(logits, t)`` is ``nll_loss(log_softmax(logits), t)``.

    >>> nll_loss([[-1.0, -2.0], [-0.5, -3.0]], [1, 0]).data
    1.25
    """
    check_reduction(reduction, "nll_loss")
    rows, batch = batch_rows(input, "nll_loss")
    # a list, tuple or numpy array of indices; a 0-d array is one index
    many = batch and hasattr(target, "__len__") and not is_index(target)
    targets: list[Any] = list(target) if many else [target]  # type: ignore[arg-type]
    if len(targets) != len(rows):
        raise ValueError(f"nll_loss: {len(rows)} samples but {len(targets)} targets")
    terms = []
    for row, t in zip(rows, targets, strict=True):
        index = operator.index(t) if is_index(t) else -1
        if not 0 <= index < len(row):
            raise ValueError(f"nll_loss: target {t!r} is not a class index in [0, {len(row)})")
        terms.append(-row[index])
    return reduce(terms, reduction, "nll_loss")


def kl_div(
    input: Sequence[Operand] | Sequence[Sequence[Operand]],
    target: Sequence[SupportsFloat] | Sequence[Sequence[SupportsFloat]],
    reduction: Literal["mean", "sum", "batchmean"] = "mean",
    log_target: bool = False,
) -> Value:
    """KL divergence of the distribution ``target`` from ``exp(input)``, as
    ``torch.nn.functional.kl_div``: ``input`` holds log-probabilities, ``target`` probabilities
    (log-probabilities with ``log_target=True``); each element costs ``t (log t - x)``, and 0
    where ``t = 0``.

    ``reduction`` is torch's: ``"mean"`` over all the elements, ``"batchmean"`` over the rows
    (the KL divergence of each sample, averaged: a single row counts its elements as rows, as
    torch's first dimension does), or ``"sum"``.

    Raises:
        ValueError: ``input`` and ``target`` differ in shape. TypeError: a target is no number.
        OverflowError: a log-target past 709.78 (exp overflows; torch gives inf), as ``exp``.

    >>> round(kl_div([math.log(0.5), math.log(0.5)], [0.25, 0.75], reduction="sum").data, 6)
    0.130812
    """
    check_reduction(reduction, "kl_div", ("mean", "sum", "batchmean"))
    rows, batch = batch_rows(input, "kl_div")
    targets = target_rows(target, rows, batch, "kl_div")
    terms = []
    for row, target_row in zip(rows, targets, strict=True):
        for x, written in zip(row, target_row, strict=True):
            t = target_number(written, "kl_div")
            if log_target:
                terms.append(exp_of_target(t, "kl_div") * (t - x))
            else:  # torch's xlogy: 0 log 0 is 0; a negative target gives NaN, as torch's
                terms.append(-t * x if t == 0.0 else (t * math.log(t) if t > 0.0 else math.nan) - t * x)
    total = reduce(terms, "sum", "kl_div")
    if reduction == "mean":
        return total / len(terms)
    if reduction == "batchmean":
        return total / len(rows) if batch else total / len(terms)
    return total


# binary_cross_entropy is a custom op, so its slope is torch's formula
# (x - t) / max(x (1 - x), 1e-12), finite at 0 and 1, rather than the 0 slope of its clamped logs.
_BCE_EPSILON = 9.999999960041972e-13  # torch's: the float32 nearest 1e-12, in float64 too


def _clamped_log(x: float) -> float:
    """log(x) at least -100 (torch's clamp, so a probability of 0 costs 100, not inf)."""
    return max(math.log(x), -100.0) if x > 0.0 else -100.0


def _clamped_log1m(x: float) -> float:
    """log(1 - x) at least -100, with log1p as torch's: 1 - x would round away a small x
    (x = 1e-13 would cost 1.0003e-13 instead of 1.00000000000005e-13; 1e-17 would cost 0)."""
    return max(math.log1p(-x), -100.0) if x < 1.0 else -100.0


def _bce_forward(x: float, t: float) -> float:
    if not 0.0 <= x <= 1.0:
        raise ValueError("all elements of input should be between 0 and 1")
    return -(t * _clamped_log(x) + (1.0 - t) * _clamped_log1m(x))


def _bce_derivative(F: Any, x: Any, t: Any, out: Any) -> tuple[Any, Any]:
    x0 = F.value(x)
    spread = x0 * (1.0 - x0)
    dx = (x - t) / (x * (1.0 - x)) if spread > _BCE_EPSILON else (x - t) / _BCE_EPSILON
    return dx, _clamped_log1m(x0) - _clamped_log(x0)


_BCE = custom_op(
    "binary_cross_entropy", _bce_forward, _bce_derivative, domain=(((0.01, 0.99),), ((0.0, 1.0),))
)


def binary_cross_entropy(
    input: Operand | Sequence[Operand],
    target: SupportsFloat | Sequence[SupportsFloat],
    reduction: Reduction = "mean",
) -> Value:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against targets:
    ``-(t log x + (1 - t) log(1 - x))``, with each log clamped at -100 as torch's, so a
    probability of exactly 0 or 1 costs at most 100; its slope is torch's
    ``(x - t) / max(x (1 - x), 1e-12)``. From logits, ``binary_cross_entropy_with_logits`` is
    exact for any logit.

    Raises:
        ValueError: for an input or a target outside [0, 1] or NaN (torch's messages).
        TypeError: a target that is no real number.

    >>> binary_cross_entropy([0.0, 1.0], [1.0, 1.0], reduction="sum").data
    100.0
    """
    check_reduction(reduction, "binary_cross_entropy")
    terms = []
    for x, t in pairs(input, target, "binary_cross_entropy"):
        p = probability(t, "binary_cross_entropy", "all elements of target should be between 0 and 1")
        try:
            terms.append(_BCE(x, p))
        except ValueError as err:  # the engine names the op and operands; torch's words say why
            raise ValueError(f"binary_cross_entropy: {err}") from None
    return reduce(terms, reduction, "binary_cross_entropy")
