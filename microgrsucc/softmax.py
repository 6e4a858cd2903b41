"""``softmax`` and ``log_softmax`` over a list of Values, as torch's over one dimension.

Both subtract the largest input first (a plain float: the result does not depend on it, so it
owes no gradient), so no ``exp`` overflows and a log-probability keeps its digits, for logits of
any size. ``microgrsucc.losses`` has them too, beside ``nll_loss`` and ``cross_entropy``.
"""

from __future__ import annotations

from collections.abc import Sequence

from microgrsucc.value import Operand, Value, as_value

__all__ = ["log_softmax", "softmax"]


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
