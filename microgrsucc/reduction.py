"""What the losses share: an output as a Value, the samples as pairs, the reductions, class indices."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Literal

from microgrsucc.core import to_float
from microgrsucc.value import Operand, Value, as_value

__all__ = [
    "Reduction",
    "batch_rows",
    "check_reduction",
    "constant",
    "exp_of_target",
    "is_index",
    "is_row",
    "nan_max",
    "operand",
    "pairs",
    "probability",
    "reduce",
    "target_number",
    "target_rows",
]

Reduction = Literal["mean", "sum"]


def operand(x: Operand) -> Value:
    return x if isinstance(x, Value) else Value(x)


def pairs(input: Operand | Sequence[Operand], target: Any, name: str) -> list[tuple[Value, Any]]:
    """The samples as (output, target) pairs: one pair for a single output, else one per sample
    (a list, a tuple or a numpy array of one dimension)."""
    if not is_row(input) and not is_row(target):
        return [(as_value(input, name), target)]
    outputs: Any = input
    if not is_row(outputs) or not is_row(target) or len(target) != len(outputs):
        counts = [len(xs) if is_row(xs) else "a single" for xs in (outputs, target)]
        raise ValueError(f"{name}: {counts[0]} outputs but {counts[1]} targets")
    if len(outputs) == 0:
        raise ValueError(f"{name}: no samples")
    return [(as_value(x, name), t) for x, t in zip(outputs, target, strict=True)]


def reduce(terms: list[Value], reduction: Reduction, name: str) -> Value:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total / len(terms) if reduction == "mean" else total


def target_number(t: object, name: str) -> float:
    """A target as a float: a Value gives its number (``float()`` warns that no gradient reaches
    it); a string or anything else that is no real number is a TypeError naming the loss, where
    ``float("1")`` would have taken it as 1.0."""
    return float(t) if isinstance(t, Value) else to_float(t, f"{name}: target")


def probability(t: object, name: str, words: str) -> float:
    """A target in [0, 1] as a float; else a ValueError of ``name`` and ``words`` (NaN too)."""
    p = target_number(t, name)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: {words}")
    return p


def exp_of_target(t: float, name: str) -> float:
    """exp(t) of a log-target; past the floats an OverflowError naming the loss, as the engine's
    exp (torch gives inf), not math's bare "math range error"."""
    try:
        return math.exp(t)
    except OverflowError:
        raise OverflowError(f"{name}: exp of the log-target {t!r} is past the floats") from None


def target_rows(target: Any, rows: list[list[Value]], batch: bool, name: str) -> list[list[Any]]:
    """``target`` as rows of the shape of ``rows`` (``batch_rows``'s); else a ValueError."""
    given = list(target)
    if batch and not all(is_row(row) for row in given):
        raise ValueError(f"{name}: input and target must have the same shape")
    targets = [list(row) for row in given] if batch else [given]
    if [len(r) for r in targets] != [len(r) for r in rows]:
        raise ValueError(f"{name}: input and target must have the same shape")
    return targets


def constant(x: Any, where: str) -> Any:
    """A loss's constant (``margin``, ``beta``, ``delta``): a Value as it is, else a float; a
    TypeError naming ``where`` for what is no real number."""
    return x if isinstance(x, Value) else to_float(x, where)


def is_index(t: object) -> bool:
    """An integer class index: int, numpy integer, anything with ``__index__`` (but not a bool)."""
    if isinstance(t, bool) or type(t).__name__ in ("bool", "bool_"):  # numpy 1 and 2 bools too
        return False
    try:
        operator.index(t)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def check_reduction(reduction: str, name: str, allowed: tuple[str, ...] = ("mean", "sum")) -> None:
    if reduction not in allowed:
        choices = " or ".join(repr(r) for r in allowed)
        raise ValueError(f"{name}: reduction must be {choices}, got {reduction!r}")


def is_row(x: object) -> bool:
    """A sample's list of numbers: a sequence (not a string) or a numpy array of one dimension."""
    if isinstance(x, (str, bytes)):
        return False
    return isinstance(x, Sequence) or getattr(x, "ndim", 0) == 1


def batch_rows(input: Sequence[Any], name: str) -> tuple[list[list[Value]], bool]:
    """One sample's list of Values, or a list of such lists; and whether it was a batch."""
    if len(input) == 0:  # not "not input": a numpy array has no truth value
        raise ValueError(f"{name}: no inputs")
    batch = is_row(input[0])
    if any(is_row(row) != batch for row in input):
        raise TypeError(f"{name}: the input mixes rows of numbers and single numbers")
    rows = [list(row) for row in input] if batch else [list(input)]
    if any(not row for row in rows):
        raise ValueError(f"{name}: an empty row")
    return [[operand(x) for x in row] for row in rows], batch


def nan_max(data: list[float]) -> float:
    """The largest number, or NaN if any is NaN (Python's max() depends on where the NaN is)."""
    m = max(data)
    return m if m == m and all(d == d for d in data) else math.nan
