"""What the numpy backend's generated code runs in: the arena of buffers, the chunks of a
batch, and the functions it calls for layers (relu's probed form, the NaN of its slope) and
for sums of squares.

``runner`` wraps a generated ``run(P, PV, X, count, A, G)``: it runs the batch in chunks of
at most ``CHUNK`` samples (fewer for wide layers: ``chunk_size``), each in the buffers of an
arena made once per chunk size (and thread), so that a call in steady state maps no fresh
memory; and it gathers the samples whose table functions may have raised (``SUSPECTS``) for
the eager engine.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from microgrsucc import ops
from microgrsucc.compiler.numpy_printer import SUSPECTS
from microgrsucc.compiler.python_code import Replay

__all__ = [
    "CHUNK",
    "RELU",
    "Spec",
    "add_square_grads",
    "chunk_size",
    "nan_slopes",
    "negative_zeros",
    "plus",
    "runner",
    "span",
    "squares",
]

Spec = dict[str, tuple[int | None, int, bool, str]]
"""The arena's buffers: name -> (rows, or None for the chunk's samples; columns; a column of
ones beside them; dtype)."""


def runner(run: Callable[..., float], spec: Spec, param_count: int, scalars: bool) -> Callable[..., Any]:
    """``checked(P, samples, count) -> (total, G)``: ``run`` over the chunks of the batch.

    ``P`` is a list of floats or a float64 array (a FlatParameter's); ``scalars`` says
    whether ``run`` reads some parameters as Python floats (``P[3]``), which an array would
    give as numpy scalars, whose errors differ (1/0 is inf, not ZeroDivisionError)."""
    arenas = threading.local()  # a call in another thread gets buffers of its own
    widest = max((columns + ones for rows, columns, ones, _ in spec.values() if rows is None), default=1)

    def arena(count: int) -> dict[str, Any]:
        made: dict[int, dict[str, Any]] | None = getattr(arenas, "by_count", None)
        if made is None:
            made = arenas.by_count = {}
        found = made.get(count)
        if found is None:
            if len(made) >= 4:  # the chunk size and a remainder or two
                made.pop(next(iter(made)))
            found = made[count] = _arena(spec, count)
        return found

    # The generated code reads the parameters and must not write them: P may be a
    # FlatParameter's own array. A copy says so; for the array the last call got (a
    # FlatParameter's, the same each call), a read-only view of it, made once, costs nothing.
    viewed: list[tuple[Any, Any]] = [(None, None)]

    def parameters(P: Any) -> Any:
        last, view = viewed[0]  # one read: another thread may replace the pair
        if P is last:
            return view
        if isinstance(P, list) or P.dtype != np.float64:
            return np.array(P, dtype=np.float64)
        view = P.view()
        view.flags.writeable = False
        viewed[0] = P, view
        return view

    def checked(P: Any, samples: Any, count: int) -> Any:
        outer = getattr(SUSPECTS, "found", None)
        X = np.asarray(samples, dtype=float)
        PV = parameters(P)
        if not isinstance(P, list):
            P = PV.tolist() if scalars else PV
        G = np.zeros(param_count)
        total = 0.0
        suspects: list[Any] = []
        whole = False
        try:
            with np.errstate(all="ignore"):
                chunk = chunk_size(widest)
                for begin in range(0, count, chunk):
                    size = min(chunk, count - begin)
                    found: list[Any] = []
                    SUSPECTS.found = found
                    total += run(P, PV, X[begin : begin + size], size, arena(size), G)
                    whole = whole or any(f is None for f in found)
                    if found and not whole:
                        flagged = np.flatnonzero(np.logical_or.reduce(found))
                        suspects += (flagged + begin).tolist()
        finally:
            SUSPECTS.found = outer
        if whole:
            raise Replay(None, None)
        result = total, G
        if suspects:
            raise Replay(suspects, result)
        return result

    return checked


CHUNK = 2048
"""The most samples one pass runs (``chunk_size`` takes fewer for wide layers): each buffer
then stays in the cache between the passes over it. Measured on the benchmark's MLP at
10,000 and 100,000 samples (W = 16, 32): 2,048 beat 1,024, 4,096 and 8,192 by 5-30%."""
_CHUNK_FLOATS = 36_000  # 288 KB: a few such buffers, a layer's pass, stay in a core's 1.25 MB L2


def chunk_size(widest: int) -> int:
    """Samples per pass when the widest buffer per sample has ``widest`` columns (a layer's
    units, its column of ones included): ``CHUNK``, halved (to an eighth of it at least) until
    such a buffer holds at most 36,000 floats. The benchmark's MLP at 10,000 samples (medians of 7
    alternating blocks, process time, 2026-11-30, load 1.1-1.5): W=16 2,048 samples 2.87 ms
    (1,024: 3.14); W=32 1,024 6.59 ms (2,048: 7.08); W=64 512 16.5 ms (2,048: 19.1); W=128
    256 54.1 ms (2,048: 59.3), and at 1,000 samples 4.94 ms against 5.17."""
    chunk = CHUNK
    while chunk > CHUNK // 8 and chunk * widest > _CHUNK_FLOATS:
        chunk //= 2
    return chunk


def span(index: Any) -> slice | None:
    """``slice(a, b)`` if the positions ``index`` (any shape, row-major) are ``a, a+1, ..., b-1``,
    else None: a layer's weights stored in order (as ``nn.MLP`` and a FlatParameter keep
    them) are then read as a view of the parameter vector, and their gradient added to one
    run of G, with no gather or scatter."""
    flat = np.asarray(index).ravel()
    if flat.size == 0 or not np.array_equal(flat, np.arange(flat[0], flat[0] + flat.size)):
        return None
    return slice(int(flat[0]), int(flat[0]) + flat.size)


def _arena(spec: Spec, count: int) -> dict[str, Any]:
    """The buffers of ``spec`` (name: rows or None for the batch, columns, a column of ones
    beside them, dtype) for a chunk of ``count`` samples."""
    found: dict[str, Any] = {"_ones": np.ones(count)}
    for name, (rows, columns, ones, dtype) in spec.items():
        whole = np.zeros((count if rows is None else rows, columns + ones), dtype=dtype)
        if ones:
            whole[:, columns] = 1.0
            found[f"{name}_1"] = whole
            whole = whole[:, :columns]
        found[name] = whole
    return found


def _relu_order() -> str | None:
    """How ``np.maximum`` computes the table's relu in place against an array of zeros,
    probed once: its operands in the order that keeps relu(-0.0) = 0.0 and relu(NaN) = NaN
    (numpy does not promise either), or None where neither order does (relu is then printed
    from its tree)."""
    relu = ops.PRIMITIVES.get("relu")
    if relu is None:
        return None
    specials = [-0.0, 0.0, math.nan, math.inf, -math.inf, -1.0, 2.0, 5e-324, -5e-324, -math.nan]
    xs = specials * 103  # long enough for numpy's vector loops, and their tails
    want = [repr(relu.forward(x)) for x in xs]
    for order in ("{x}, {zeros}", "{zeros}, {x}"):
        a, zeros = np.array(xs), np.zeros(len(xs))
        if order.startswith("{x}"):
            np.maximum(a, zeros, out=a)
        else:
            np.maximum(zeros, a, out=a)
        if [repr(x) for x in a.tolist()] == want:
            return order
    return None


RELU = _relu_order()


def nan_slopes(R: Any, dR: Any) -> None:
    """NaN in ``dR`` where relu's output ``R`` is NaN: the table's slope there is NaN, the
    mask's 0. The sum of relu's outputs (each >= 0) is NaN only when one of them is."""
    if math.isnan(np.add.reduce(R, None)):
        dR[np.isnan(R)] = math.nan


def negative_zeros(Z: Any, A: Any, W: Any) -> None:
    """The zeros of ``Z = A @ W.T`` signed as eager mode's sums are: -0.0 where every term
    ``A[s, i] * W[j, i]`` is -0.0 (a sum of floats is -0.0 only then, in any order), +0.0
    elsewhere. BLAS starts its sums at +0.0, and with fused multiply-adds a product that
    underflows keeps its sign (``0.0 + 1e-200 * -1e-200`` is -0.0 in one rounding, +0.0 in
    eager mode's two), so an op that tells the zeros apart (atan2, 1 / x) would branch the
    other way. Only the zeros of Z are looked at."""
    if Z.all():
        return
    rows, cols = np.nonzero(Z == 0.0)
    step = max(1, 65536 // max(1, A.shape[1]))  # the terms of a few zeros at a time
    for begin in range(0, len(rows), step):
        r, c = rows[begin : begin + step], cols[begin : begin + step]
        terms = A[r] * W[c]
        negative = np.logical_and.reduce((terms == 0.0) & np.signbit(terms), axis=1)
        Z[r, c] = np.where(negative, -0.0, 0.0)


def squares(P: Any, index: Any, weights: Any, powered: Any) -> float:
    """``Σ weights[k] * P[index[k]]²`` (weights None: all 1) as one dot product.

    ``powered`` masks the terms written ``p ** 2``: Python's ``**`` raises OverflowError where
    the square of a finite number overflows (``*`` gives inf), so the eager engine is asked.
    """
    p = P[index]
    total = float(np.dot(p, p) if weights is None else np.dot(p * p, weights))  # np.dot: @'s sum, sooner
    if powered is not None and not math.isfinite(total):
        q = p[powered]
        if np.any(np.isinf(q * q) & np.isfinite(q)):
            raise OverflowError("squares: (x ** 2) overflowed")
    return total


def add_square_grads(G: Any, P: Any, index: Any, weights: Any, adjoint: float, unique: bool) -> None:
    """Add ``2 * adjoint * weights[k] * P[index[k]]`` to ``G[index[k]]`` for every k, as eager
    mode sums the two operands of ``p * p``: ``(a * c) * p + (a * c) * p``."""
    a = adjoint if weights is None else adjoint * weights
    t = a * P[index]
    t += t
    if index.__class__ is slice:  # a view of G: added in place (G[index] += t writes it back)
        g = G[index]
        g += t
    elif unique:
        G[index] += t
    else:
        np.add.at(G, index, t)


def plus(old: list[Any], scaled: Any) -> list[float] | None:
    """``old + scaled`` as floats when every old gradient is a float (one sum in numpy, not
    one float object per step of a Python loop), else None."""
    before = np.array(old)
    return (before + scaled).tolist() if before.dtype == np.float64 else None
