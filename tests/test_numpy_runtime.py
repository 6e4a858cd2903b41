"""microgrsucc.compiler.numpy_runtime: what the generated numpy code runs in, held to Python
floats (the sums of squares and their gradients) and to what the runner promises its code."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

from microgrsucc.compiler import numpy_runtime  # noqa: E402
from microgrsucc.compiler.numpy_runtime import add_square_grads, runner, span, squares  # noqa: E402

FINITE = st.floats(-1e3, 1e3)


@settings(deadline=None)
@given(data=st.data())
def test_square_sums_and_their_gradients_equal_python_floats(data: st.DataObject) -> None:
    """Over positions that are a run (a slice), any distinct positions, or repeated ones;
    each gradient is ``(a * c) * p`` twice, as eager mode sums the two operands of ``p * p``."""
    n = data.draw(st.integers(1, 12), label="n")
    P = np.array(data.draw(st.lists(FINITE, min_size=n, max_size=n), label="P"))
    kind = data.draw(st.sampled_from(["run", "distinct", "repeated"]), label="kind")
    if kind == "run":
        start = data.draw(st.integers(0, n - 1))
        index: list[int] = list(range(start, data.draw(st.integers(start + 1, n))))
    elif kind == "distinct":
        index = data.draw(st.permutations(range(n)))[: data.draw(st.integers(1, n))]
    else:
        index = data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2 * n))
    weights = data.draw(st.none() | st.lists(FINITE, min_size=len(index), max_size=len(index)))
    adjoint = data.draw(FINITE, label="adjoint")
    G0 = data.draw(st.lists(FINITE, min_size=n, max_size=n), label="G before")
    where: Any = span(index) if kind == "run" else np.array(index, dtype=np.intp)
    assert (where.__class__ is slice) == (kind == "run")
    c = [1.0] * len(index) if weights is None else weights
    p = P.tolist()
    want_total = sum(ck * p[i] * p[i] for ck, i in zip(c, index, strict=True))
    got_total = squares(P, where, None if weights is None else np.array(weights), None)
    assert got_total == pytest.approx(want_total, rel=1e-12, abs=1e-9)
    want = list(G0)
    for ck, i in zip(c, index, strict=True):
        t = (adjoint if weights is None else adjoint * ck) * p[i]
        want[i] += t + t
    G = np.array(G0)
    unique = len(set(index)) == len(index)
    add_square_grads(G, P, where, None if weights is None else np.array(weights), adjoint, unique)
    if unique:  # one addition per position: Python's floats exactly
        assert G.tolist() == want
    else:  # np.add.at adds a position's terms in its own order
        assert G.tolist() == pytest.approx(want, rel=1e-12, abs=1e-9)


def test_the_runner_hands_its_code_parameters_it_cannot_write() -> None:
    """The parameters may be a FlatParameter's own array, the same at every call: the
    generated code reads them through a view that refuses writes (or a copy), and a run
    reading Python floats gets floats."""
    seen: list[Any] = []

    def run(P: Any, PV: Any, X: Any, count: int, A: Any, G: Any) -> float:
        G += PV
        try:
            PV[0] = 5.0
        except ValueError:
            seen.append("refused")
        seen.append(P.tolist() if hasattr(P, "tolist") else P)
        return float(X.sum())

    flat = np.array([1.0, 2.0, 3.0])
    for scalars in (False, True, False):
        total, G = runner(run, {}, 3, scalars)(flat, np.ones((4, 2)), 4)
        assert total == 8.0 and G.tolist() == [1.0, 2.0, 3.0]
        assert flat.tolist() == [1.0, 2.0, 3.0] and flat.flags.writeable
        assert seen == ["refused", [1.0, 2.0, 3.0]]
        seen.clear()
    step = runner(run, {}, 3, True)
    for P in ([1.0, 2.0, 3.0], np.array([1, 2, 3]), flat[::-1].copy()[::-1]):  # a list, ints, strided
        total, G = step(P, np.ones((4, 2)), 4)
        assert G.tolist() == [1.0, 2.0, 3.0] and seen[-1] == [1.0, 2.0, 3.0]
        assert (P.tolist() if hasattr(P, "tolist") else P) == [1.0, 2.0, 3.0]
        seen.clear()


@given(widest=st.integers(1, 10_000))
def test_a_chunk_is_the_most_samples_whose_widest_buffer_fits_the_budget(widest: int) -> None:
    """``CHUNK`` halved until a buffer of ``widest`` columns holds at most 36,000 floats, an
    eighth of ``CHUNK`` at least."""
    chunk = numpy_runtime.chunk_size(widest)
    most, least = numpy_runtime.CHUNK, numpy_runtime.CHUNK // 8
    assert least <= chunk <= most and most % chunk == 0 and (most // chunk).bit_count() == 1
    assert chunk * widest <= 36_000 or chunk == least
    assert chunk == most or 2 * chunk * widest > 36_000
