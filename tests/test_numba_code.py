"""``compile(backend="numba")`` held to eager mode: the differential fuzzer's losses, domain
errors, and numba's cache of the kernel, loaded by a second process."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compile_differential import (
    SPECIAL_FLOATS,
    TILE_AND_CHUNK,
    Loss,
    c_cbrt,
    check,
    check_array_parameters,
    check_network,
    compiled_outcome,
    counting_fallbacks,
    differences,
    eager_outcome,
    losses,
    networks,
)
from test_layers import PENALTIES, close, eager

import microgrsucc as mg
from microgrsucc.compiler.numba_printer import TILE, tile_size
from microgrsucc.nn import MLP, Layer

pytestmark = pytest.mark.numba


@pytest.fixture(autouse=True)
def _cache_in_a_temporary_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernels and numba's cache of them go to a folder of this run, not the user's cache.
    monkeypatch.setenv("MICROGRSUCC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


# A chain of one-unit layers is a kernel too long for numba's compiler: compile refuses it
# (test_a_chain_of_many_layers_is_refused); the fuzzer's deep chains are left to the others.
LAYERED = losses(budget=16, loop=50).filter(lambda loss: "deep chain" not in loss.features)


# numba compiles each drawn loss's kernel in a second or more: two in the default run.
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(loss=LAYERED, data=st.data())
def test_numba_losses_give_eager_results(loss: Loss, data: st.DataObject) -> None:
    check(loss, data, backends=("numba",))


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=100, suppress_health_check=list(HealthCheck))
@given(
    loss=losses(budget=96, loop=200).filter(lambda loss: "deep chain" not in loss.features), data=st.data()
)
def test_a_hundred_numba_losses_give_eager_results(loss: Loss, data: st.DataObject) -> None:
    check(loss, data, more=60, backends=("numba",))


def test_a_domain_error_is_eager_modes_and_only_its_sample_is_replayed() -> None:
    w = mg.Value(1.5)
    step = mg.compile(lambda x: (w * x).log() + (w * x).relu(), [w], backend="numba")
    rows = [(1.0,), (2.0,), (-3.0,), (4.0,)]
    with counting_fallbacks() as replayed, pytest.raises(ValueError, match=r"log\(-4.5\)"):
        step.backward(rows)
    assert replayed == [1]
    assert w.grad is None
    with counting_fallbacks() as replayed:  # NaN is a value, not an error: no replay
        assert math.isnan(step.backward([(1.0,), (math.nan,)]))
    assert replayed == []


# The kernel runs the samples in tiles of TILE: batches that end inside a tile, at its end,
# one past it; widths that are not multiples of the four terms a statement sums (9 inputs,
# 6 units), a first layer with more units than inputs (its weight gradients summed the other
# way), and now and then NaN, infinities and huge numbers among the samples.
HINGE = MLP(2, [9, 6, 1], seed=5)


def hinge_of(model: MLP) -> Callable[[mg.Value, mg.Value, mg.Value], mg.Value]:
    def hinge(a: mg.Value, b: mg.Value, y: mg.Value) -> mg.Value:
        return (1 - y * model([a, b])).relu() + 1e-4 * sum(p * p for p in model.parameters())

    return hinge


BATCHES = st.sampled_from([1, 3, TILE - 1, TILE, TILE + 1, 2 * TILE + 5])
SPECIAL = st.lists(
    st.tuples(st.integers(0, 2 * TILE + 4), st.integers(0, 2), st.sampled_from(SPECIAL_FLOATS))
)


def hinge_rows(count: int, seed: int, special: list[tuple[int, int, float]]) -> list[tuple[float, ...]]:
    """``count`` random samples (x0, x1, y), with the ``special`` values put in some."""
    rng = np.random.default_rng(seed)
    rows = [(*rng.uniform(-2.0, 2.0, 2).tolist(), float(rng.choice([-1.0, 1.0]))) for _ in range(count)]
    for k, column, x in special:
        if k < count:
            row = list(rows[k])
            row[column] = x
            rows[k] = (row[0], row[1], row[2])
    return rows


def check_hinge(count: int, seed: int, special: list[tuple[int, int, float]], model: MLP = HINGE) -> None:
    """The hinge loss of ``model`` over ``count`` random samples, ``special`` values put in
    some, held to eager mode (the sum's total and gradients)."""
    rows = hinge_rows(count, seed, special)
    params = model.parameters()
    hinge = hinge_of(model)
    step = mg.compile(hinge, params, backend="numba")
    want = eager_outcome(hinge, params, rows, "sum", None)
    got = compiled_outcome(step, np.array(rows), "sum", None)
    assert not differences(got, want, refusal_ok=False)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(count=BATCHES, seed=st.integers(0, 2**32 - 1), special=SPECIAL)
def test_batches_across_tiles_give_eager_results(
    count: int, seed: int, special: list[tuple[int, int, float]]
) -> None:
    check_hinge(count, seed, special)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(count=BATCHES, seed=st.integers(0, 2**32 - 1), special=SPECIAL)
def test_hundreds_of_batches_across_tiles_give_eager_results(
    count: int, seed: int, special: list[tuple[int, int, float]]
) -> None:
    check_hinge(count, seed, special)


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(batches=st.lists(st.tuples(BATCHES, st.integers(0, 2**32 - 1), SPECIAL), min_size=2, max_size=5))
def test_one_step_over_batches_one_after_another_gives_eager_results(
    batches: list[tuple[int, int, list[tuple[int, int, float]]]],
) -> None:
    """The kernel's arrays are views of a workspace kept from call to call: what a batch left
    there (NaN and infinities, a longer batch's samples past a shorter one's end) changes
    nothing in a later batch's results."""
    params = HINGE.parameters()
    hinge = hinge_of(HINGE)
    step = mg.compile(hinge, params, backend="numba")
    for count, seed, special in batches:
        rows = hinge_rows(count, seed, special)
        want = eager_outcome(hinge, params, rows, "sum", None)
        got = compiled_outcome(step, np.array(rows), "sum", None)
        assert not differences(got, want, refusal_ok=False), (count, special)


def test_threads_calling_one_kernel_at_once_get_what_each_gets_alone() -> None:
    """Each thread has a workspace of its own: batches run in four threads at once give,
    bit for bit, what each gives run alone."""
    from microgrsucc.compiler import numba_code
    from microgrsucc.compiler.tracing import trace

    run, _ = numba_code.generate(trace(hinge_of(HINGE), HINGE.parameters(), 3))
    P = np.array([p.data for p in HINGE.parameters()])
    batches = [np.array(hinge_rows(count, count, [])) for count in (1, TILE + 1, 3, 2 * TILE + 5) * 3]
    alone = [run(P, rows, len(rows)) for rows in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda rows: run(P, rows, len(rows)), batches))
    for (total, grads), (want_total, want) in zip(together, alone, strict=True):
        assert total == want_total and grads.tolist() == want.tolist()


def test_threads_loading_one_new_module_at_once_each_get_it_whole(tmp_path: Path) -> None:
    """A module is in sys.modules while it runs (numba's cache finds the helpers by name): a
    thread asking for it meanwhile waits for the whole module, not the half-run one."""
    from microgrsucc.compiler import numba_cache

    # New to this process (the folder's name is in it); its run takes long enough for the
    # other threads to ask for it meanwhile.
    source = f"import time\ntime.sleep(0.05)\nFOLDER = {str(tmp_path)!r}\n"
    barrier = threading.Barrier(4)

    def load() -> Any:
        barrier.wait()
        return numba_cache.load(source, "test")

    with ThreadPoolExecutor(4) as pool:
        modules = list(pool.map(lambda _: load(), range(4)))
    assert all(m is modules[0] for m in modules)
    assert [m.FOLDER for m in modules] == [str(tmp_path)] * 4


def test_threads_making_a_steps_first_call_at_once_get_eager_results() -> None:
    """Four threads call a new step for the first time at once (its kernel module not yet
    loaded, in a process whose helpers may not be either): each gets eager mode's total for
    its batch, as when called alone."""
    model = MLP(2, [7, 1], seed=11)
    params = model.parameters()
    c = 1.25e-4  # no other test's loss: a new kernel in this process

    def loss(a: mg.Value, b: mg.Value, y: mg.Value) -> mg.Value:
        return (1 - y * model([a, b])).relu() + c * sum(p * p for p in params)

    step = mg.compile(loss, params, backend="numba")
    batches = [hinge_rows(count, count, []) for count in (1, 3, TILE + 2, 5)]
    barrier = threading.Barrier(len(batches))

    def first_call(rows: list[tuple[float, ...]]) -> float:
        barrier.wait()
        return step.backward(np.array(rows), reduction="sum")

    with ThreadPoolExecutor(len(batches)) as pool:
        totals = list(pool.map(first_call, batches))
    for rows, total in zip(batches, totals, strict=True):
        want = eager_outcome(loss, params, rows, "sum", None)
        assert want.error is None and close(total, want.total, max(want.scale, 1.0)), (len(rows), total, want)


def test_a_layer_wider_than_64_runs_in_smaller_tiles_with_eager_results() -> None:
    # 70 units by 64 samples (35 KB) would not fit the first level of cache: tiles of 32.
    assert [tile_size(w) for w in (1, 64, 65, 128, 129, 10**6)] == [TILE, TILE, 32, 32, 16, 16]
    wide = MLP(2, [70, 1], seed=7)
    for count, special in [(31, []), (33, [(32, 0, math.inf)]), (65, [(40, 1, math.nan)]), (100, [])]:
        check_hinge(count, count, special, wide)


def test_a_flagged_sample_inside_a_tile_is_the_only_one_replayed() -> None:
    # exp of a layer's units (a map whose function can fail) and log of a sample's column
    # (one sample's statements): a sample in the middle of the second tile fails each, alone.
    layer = MLP(2, [5], seed=3, activation="linear")
    params = layer.parameters()

    def loss(a: mg.Value, b: mg.Value) -> mg.Value:
        return sum(u.exp() for u in layer([a, b])) + (b + 2.0).log()

    step = mg.compile(loss, params, backend="numba")
    rows = [(math.sin(k), math.cos(k)) for k in range(2 * TILE + 5)]
    with counting_fallbacks() as replayed:
        want = eager_outcome(loss, params, rows, "sum", None)
        got = compiled_outcome(step, rows, "sum", None)
    assert replayed == [] and not differences(got, want, refusal_ok=False)
    failing = [((0.25, -6.5), ValueError, r"log\(-4\.5\)"), ((1e4, 1e4), OverflowError, "exp")]
    for bad, error, message in failing:
        with counting_fallbacks() as replayed, pytest.raises(error, match=message):
            step.backward([*rows[: TILE + 7], bad, *rows[TILE + 7 :]])
        assert replayed == [1]


def test_parameters_given_as_an_array_are_read_and_the_penalty_is_one_call() -> None:
    from microgrsucc.compiler import numba_code

    check_array_parameters(numba_code.generate)


FINITE = st.floats(-1e3, 1e3)


@settings(deadline=None)
@given(data=st.data())
def test_the_host_sums_of_squares_and_their_gradients_equal_python_floats(data: st.DataObject) -> None:
    """numba's compiled ``_squares_host`` and ``_square_grads_host`` (the host code's, which
    raise no floating-point warnings), for any positions (repeated ones too), constants and
    adjoint: the sum within its rounding of the exact sum of the terms (``math.fsum``; four
    partial sums, so not Python's order), each gradient Python's floats exactly; a ``p ** 2``
    overflowing raises."""
    from microgrsucc.compiler.numba_cache import load
    from microgrsucc.compiler.numba_printer import KERNEL_HELPERS

    kit = load(KERNEL_HELPERS, "helpers")
    n = data.draw(st.integers(1, 12), label="n")
    p = data.draw(st.lists(FINITE, min_size=n, max_size=n), label="P")
    index = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n), label="index")
    c = data.draw(st.lists(FINITE, min_size=len(index), max_size=len(index)), label="constants")
    adjoint = data.draw(FINITE, label="adjoint")
    G0 = data.draw(st.lists(FINITE, min_size=n, max_size=n), label="G before")
    arrays = np.array(p), np.array(index, dtype=np.intp), np.array(c)
    terms = [ck * (p[i] * p[i]) for ck, i in zip(c, index, strict=True)]
    want = list(G0)
    for ck, i in zip(c, index, strict=True):
        t = (adjoint * ck) * p[i]
        want[i] += t + t
    powered = np.zeros(len(index), dtype=np.bool_)
    got = kit._squares_host(*arrays, powered)
    # Each of the len(terms) additions rounds by at most half a unit of its result.
    assert abs(got - math.fsum(terms)) <= len(terms) * 2.0**-53 * sum(map(abs, terms)) * 1.0001
    G = np.array(G0)
    kit._square_grads_host(G, *arrays, adjoint, len(set(index)) == len(index))
    assert G.tolist() == want

    huge = np.array([3.0, 1e200])
    both = np.array([0, 1], dtype=np.intp)
    assert kit._squares_host(huge, both, np.ones(2), np.array([True, False])) == math.inf
    with pytest.raises(OverflowError, match=r"\(x \*\* 2\) overflowed"):
        kit._squares_host(huge, both, np.ones(2), np.array([False, True]))


WEIGHT_GRADS: Any = None


@settings(deadline=None)
@given(data=st.data())
def test_weight_gradients_are_sums_over_the_samples_in_their_order(data: st.DataObject) -> None:
    """``_weight_grads`` (a layer's weights' and biases' gradients over a tile, by dot
    products for one or two rows on one side, else by ``_outer``) against Python's floats
    summed sample after sample from +0.0, exactly: zeros (relu off), infinities and NaN too."""
    global WEIGHT_GRADS
    from numba import njit

    from microgrsucc.compiler.numba_cache import load
    from microgrsucc.compiler.numba_printer import KERNEL_HELPERS

    if WEIGHT_GRADS is None:
        helper = load(KERNEL_HELPERS, "helpers")._weight_grads

        @njit
        def call(dZ: Any, A: Any, n: int, GW: Any, GT: Any, gb: Any, AT: Any) -> None:
            helper(dZ, A, n, GW, GT, gb, AT)

        WEIGHT_GRADS = call
    units, inputs = data.draw(st.integers(1, 6), label="units"), data.draw(st.integers(1, 6), label="inputs")
    tile = 8
    n = data.draw(st.integers(1, tile), label="n")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    special = st.tuples(st.integers(0, 7), st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan]))
    dZ, A = rng.uniform(-3, 3, (units, tile)), rng.uniform(-3, 3, (inputs, tile))
    dZ[rng.uniform(size=dZ.shape) < 0.4] = 0.0  # relu off
    for array in (dZ, A):
        for r, x in data.draw(st.lists(special, max_size=3), label="special"):
            array[r % array.shape[0], r] = x
    GW, GT = np.zeros((units, inputs)), np.zeros((inputs, units))
    gb, AT = np.zeros(units), np.zeros((tile, max(units, inputs)))
    WEIGHT_GRADS(dZ, A, n, GW, GT, gb, AT)
    d, a = dZ.tolist(), A.tolist()
    for k in range(units):
        want_b = 0.0
        for r in range(n):
            want_b += d[k][r]
        assert repr(float(gb[k])) == repr(want_b)
        for i in range(inputs):
            want = 0.0
            for r in range(n):
                want += d[k][r] * a[i][r]
            got = GT[i, k] if inputs < units else GW[k, i]
            assert repr(float(got)) == repr(want), (k, i)
    assert not (GW if inputs < units else GT).any()  # the other one stays 0


@pytest.mark.parametrize("penalty", list(PENALTIES))
def test_penalties_past_the_floats_give_eager_results_and_errors_without_a_warning(penalty: str) -> None:
    """The host code runs outside ``np.errstate`` (nothing in it is numpy arithmetic): a sum of
    squares overflowing is eager mode's infinity with warnings as errors, a ``p ** 2``
    overflowing eager mode's OverflowError."""
    params = [mg.Value(1.0) for _ in range(3)]
    make = PENALTIES[penalty]

    def sample_loss(x: Any) -> Any:
        return (x * params[0]).relu() + make(params)

    step = mg.compile(sample_loss, params, backend="numba")
    rows = [(0.5,), (-1.0,), (2.0,)]
    values = [[1.5, -2.0, 0.25], [1e200, -1e160, 3.0], [math.inf, -0.0, math.nan], [-1e160, 2.0, 1e155]]
    for vs in values:
        for p, v in zip(params, vs, strict=True):
            p.data = v
        try:
            want_total, want = eager(sample_loss, params, rows)
        except OverflowError:  # Python's ** of a finite number past the floats
            with pytest.raises(OverflowError):
                step.backward(rows, reduction="sum")
            continue
        mg.zero_grad(params)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            total = step.backward(rows, reduction="sum")
        got = [0.0 if p.grad is None else p.grad for p in params]
        scale = sum(min(abs(v), 1e150) ** 2 for v in vs if math.isfinite(v)) * 10
        assert close(total, want_total, scale), (vs, total, want_total)
        for g, w, v in zip(got, want, vs, strict=True):
            assert close(g, w, 10 * abs(v) if math.isfinite(v) else 1.0), (vs, got, want)


def test_an_op_numba_cannot_compile_is_named() -> None:
    cbrt = c_cbrt()
    w = mg.Value(2.0)
    step = mg.compile(lambda x: cbrt(w * x), [w], backend="numba")
    with pytest.raises(TypeError, match=r"'cbrt_c'.*backend=.numpy."):
        step.backward([(1.0,)])


def test_a_chain_of_many_layers_is_refused() -> None:
    p = [mg.Value(0.5) for _ in range(60)]

    def chain(x: mg.Value) -> mg.Value:
        for w in p:
            x = (w * x + 0.5).tanh()
        return x

    with pytest.raises(TypeError, match=r"too long for numba.*backend=.numpy."):
        mg.compile(chain, p, backend="numba").backward([(0.1,)])


SECOND = """
import sys
import microgrsucc as mg
from microgrsucc.nn import MLP
model = MLP(2, [int(sys.argv[1]), 6, 1], seed=1)
params = model.parameters()
step = mg.compile(lambda a, b: (model([a, b]) - a * b).relu(), params, backend="numba")
print(step.backward([(0.5, -1.0), (0.25, 2.0)], reduction="sum"))
"""


@pytest.mark.slow  # two processes that import numba: seconds
def test_a_second_process_loads_the_kernel_from_the_cache(tmp_path: Path) -> None:
    env = {**os.environ, "MICROGRSUCC_CACHE_DIR": str(tmp_path), "NUMBA_DEBUG_CACHE": "1"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(SECOND), "6"], env=env, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert runs[0].stdout.splitlines()[-1] == runs[1].stdout.splitlines()[-1]
    assert "[cache] data saved" in runs[0].stdout
    assert "[cache] data loaded" in runs[1].stdout
    assert "[cache] data saved" not in runs[1].stdout  # nothing compiled again
    assert list((tmp_path / "numba").glob("kernel_*.py"))


@pytest.mark.slow  # two processes that import numba: seconds
def test_a_new_loss_in_a_new_process_loads_the_layer_helpers_from_the_cache(tmp_path: Path) -> None:
    env = {**os.environ, "MICROGRSUCC_CACHE_DIR": str(tmp_path), "NUMBA_DEBUG_CACHE": "1"}
    first, second = (
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(SECOND), width], env=env, capture_output=True, text=True
        )
        for width in ("6", "5")  # two losses: two kernels
    )
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:] + second.stderr[-2000:]
    saved = [line for line in second.stdout.splitlines() if "[cache] data saved" in line]
    assert saved and all("kernel_" in line for line in saved)  # its kernel, compiled
    assert any("[cache] data loaded" in line and "helpers_" in line for line in second.stdout.splitlines())
    assert len(list((tmp_path / "numba").glob("kernel_*.py"))) == 2
    assert len(list((tmp_path / "numba").glob("helpers_*.py"))) == 1


# nn.MLP up to width 128, batches across the tile and numpy's chunk, every sample layout, the
# parameters changed between calls: a compile each (seconds), so in the slow run only.
@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=40, suppress_health_check=list(HealthCheck))
@given(network=networks(widths=[1, 2, 5, 16, 32, 64, 128], counts=TILE_AND_CHUNK, nodes=60_000))
def test_networks_at_the_sizes_users_grow_them_to_give_eager_results(network: Any) -> None:
    check_network(network, ("numba",))


def wide_input_loss(nin: int) -> tuple[list[mg.Value], Any]:
    """A network of ``nin`` inputs after a first argument, the target: its first layer reads
    the samples' columns 1 to ``nin``."""
    model = MLP(nin, [4, 2], seed=3)

    def sample_loss(y: Any, *x: Any) -> mg.Value:
        a, b = model(list(x))  # type: ignore[misc]
        return (a - y) ** 2 + (b * y).tanh()

    return model.parameters(), sample_loss


def test_a_layer_of_many_inputs_reads_them_in_one_loop() -> None:
    # A statement per input made a kernel of 864 lines at 784 inputs (MNIST's), which numba
    # took 90 s of CPU to compile; the code grows with the layers, not the inputs.
    lengths = []
    for nin in (3, 200):
        params, sample_loss = wide_input_loss(nin)
        lengths.append(len(mg.compile(sample_loss, params, backend="numba").source(nin + 1).splitlines()))
    assert lengths[0] == lengths[1]


@pytest.mark.slow  # a kernel compiled: seconds
def test_a_layer_of_many_inputs_gives_eager_results() -> None:
    params, sample_loss = wide_input_loss(300)
    rows = np.random.default_rng(0).uniform(-2.0, 2.0, (TILE + 3, 301))
    rows[5, 7] = math.nan
    want = eager_outcome(sample_loss, params, rows.tolist(), "sum", None)
    got = compiled_outcome(mg.compile(sample_loss, params, backend="numba"), rows, "sum", None)
    assert not differences(got, want, refusal_ok=False)


@pytest.mark.slow  # a kernel compiled: seconds
def test_a_linear_skip_beside_a_wide_layer_gives_eager_results() -> None:
    # w * x beside MLP(1, [128, 1]) is one more unit of its first layer, which relu does not
    # follow; the layer is split so relu is one loop over the rest (layers._split). It was
    # refused: 128 relus as branches per sample, a kernel too long for numba.
    model = MLP(1, [128, 1], seed=0)
    params = model.parameters()

    def sample_loss(x: Any, y: Any) -> mg.Value:
        out = model([x])
        return mg.maximum(out, params[0] * x) - y * out  # type: ignore[arg-type, operator]

    rows = np.random.default_rng(1).uniform(-2.0, 2.0, (TILE + 3, 2))
    rows[4, 0] = math.nan
    want = eager_outcome(sample_loss, params, rows.tolist(), "sum", None)
    got = compiled_outcome(mg.compile(sample_loss, params, backend="numba"), rows, "sum", None)
    assert not differences(got, want, refusal_ok=False)


def test_a_layer_read_by_two_activations_is_refused_saying_why() -> None:
    # relu over half of a layer's units and tanh over the other half: neither is a whole
    # layer's map, so the 64 relus are branches per sample, too many for one kernel.
    layer = Layer(1, 128, activation="linear", seed=0)

    def sample_loss(x: Any, y: Any) -> mg.Value:
        z = layer([x])
        return sum([u.relu() for u in z[:64]] + [u.tanh() for u in z[64:]], -y)  # type: ignore[no-any-return]

    step = mg.compile(sample_loss, layer.parameters(), backend="numba")
    with pytest.raises(TypeError, match=r"branches per sample.*too long for numba"):
        step.source(2)
