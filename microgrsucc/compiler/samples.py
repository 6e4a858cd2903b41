"""The samples ``compile``'s steps take: checked and made float64 at the boundary, as
``Value`` converts its data, in eager mode's order and with its errors."""

from __future__ import annotations

import functools
import itertools
import reprlib
from collections.abc import Iterable, Sequence
from typing import Any

from microgrsucc.core import is_real, to_float

__all__ = ["PLAIN", "as_rows", "batch", "floats", "is_array", "plain"]


def batch(samples: Any, arrays: bool) -> tuple[Any, int]:
    """``samples`` checked and in the form a backend takes, float64 at the boundary, and
    their number of arguments: for ``arrays`` (the numpy, numba and jax backends) an array
    stays an array; for the python backend it becomes lists of Python floats."""
    if arrays:
        ndarray, float64 = _float_matrix()
        if samples.__class__ is ndarray and samples.dtype is float64 and samples.ndim == 2 and len(samples):
            return samples, samples.shape[1]  # what the checks below would pass unchanged, at once
    rows = as_rows(samples)
    nargs = len(rows[0])
    if is_array(rows):
        if not arrays:
            array: Any = rows
            rows = array.astype(float).tolist()  # Python floats: float64 at the boundary
    else:
        kinds = plain(rows, nargs)
        if kinds is None:  # numpy scalars, Fractions...: checked and converted in order
            rows = [floats(sample, nargs, k) for k, sample in enumerate(rows)]
        elif int in kinds:  # Python ints: made floats here, before any op runs
            try:  # column by column: the loops run in C (half the time of a tuple per row)
                columns = [map(float, column) for column in zip(*rows, strict=True)]
                rows = list(zip(*columns, strict=True))
            except OverflowError:  # an int past the floats: eager mode's message
                rows = [floats(sample, nargs, k) for k, sample in enumerate(rows)]
    return rows, nargs


@functools.cache
def _float_matrix() -> tuple[Any, Any]:
    """numpy's array type and its float64 dtype, looked up once (the array backends need numpy)."""
    import numpy as np

    return np.ndarray, np.dtype(np.float64)


def as_rows(samples: Iterable[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    if _array_like(samples):
        # A torch tensor, a jax array, a pandas DataFrame: numpy's array of it, as a 2-d
        # numpy array is taken (a DataFrame iterated would give its column names).
        import numpy as np

        samples = np.asarray(samples)
    if is_array(samples):
        rows: Any = samples
        if rows.ndim != 2:
            raise ValueError(
                f"compile: an array of samples must be 2-d (samples, arguments), got {rows.shape}"
            )
        if rows.dtype.kind not in "fiu" and rows.size:
            raise TypeError(
                f"compile: argument 0 of sample 0 must be a real number, got {rows.dtype} "
                f"(an array of samples must hold real numbers, got dtype {rows.dtype})"
            )
    elif isinstance(samples, Iterable) and not isinstance(samples, (str, bytes)):
        rows = samples if isinstance(samples, (list, tuple)) else list(samples)
    else:
        raise TypeError(
            f"compile: samples must be a sequence of argument tuples, got {type(samples).__name__}"
        )
    if len(rows) == 0:
        raise ValueError("compile: backward() got no samples")
    first = rows[0]
    if isinstance(first, (str, bytes)) or (not isinstance(first, Sequence) and not is_array(first)):
        raise TypeError(
            "compile: each sample must be a tuple of arguments, got "
            f"{type(first).__name__}: {reprlib.repr(first)}"
        )
    return rows  # type: ignore[no-any-return]


def is_array(x: object) -> bool:
    return type(x).__module__ == "numpy" and type(x).__name__ == "ndarray"


def _array_like(x: object) -> bool:
    """An array of another library (numpy's ``__array__``), not a numpy array or a subclass
    of one (a masked array would lose its mask)."""
    return (
        hasattr(type(x), "__array__")
        and not isinstance(x, (list, tuple))
        and not any(is_array(c) or c.__module__.startswith("numpy") for c in type(x).__mro__[:-1])
    )


PLAIN = {float, int}


def plain(rows: Sequence[Sequence[Any]], nargs: int) -> set[type] | None:
    """The types of the arguments if every sample is a tuple or list of ``nargs`` floats or
    ints (checked in C loops), else None."""
    if not {type(s) for s in rows} <= {tuple, list} or set(map(len, rows)) != {nargs}:
        return None
    kinds = set(map(type, itertools.chain.from_iterable(rows)))
    return kinds if kinds <= PLAIN else None


def floats(sample: Any, nargs: int, k: int) -> tuple[float, ...]:
    """Sample ``k`` as float64 numbers, checked argument by argument in the order eager mode
    converts them: a non-real is a TypeError, an int past the floats an OverflowError."""
    if isinstance(sample, (str, bytes)) or not (isinstance(sample, Sequence) or is_array(sample)):
        raise TypeError(f"compile: sample {k} must be a tuple of arguments, got {type(sample).__name__}")
    if len(sample) != nargs:
        raise ValueError(f"compile: sample {k} has {len(sample)} argument(s), the first has {nargs}")
    out = []
    for i, x in enumerate(sample):
        cls = x.__class__
        if cls is not float and cls is not int and not is_real(x):
            raise TypeError(
                f"compile: argument {i} of sample {k} must be a real number, got {cls.__name__}: "
                f"{reprlib.repr(x)}"
            )
        out.append(to_float(x, f"compile: argument {i} of sample {k}"))
    return tuple(out)
