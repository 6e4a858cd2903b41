"""``compile(backend="jax")`` held to eager mode: the differential fuzzer's losses, padded
batches, domain errors, the user's jax configuration, and a batch sharded across devices."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compile_differential import (
    TILE_AND_CHUNK,
    Loss,
    c_cbrt,
    check,
    check_array_parameters,
    check_network,
    counting_fallbacks,
    losses,
    networks,
)

import microgrsucc as mg
from microgrsucc.nn import MLP

pytestmark = pytest.mark.jax

# XLA's compile time grows fast with the length of a chain of scalar ops (one not in a layer):
# a chain of 50 takes seconds. The fuzzer's deep chains are left to the other backends.
LAYERED = losses(budget=24).filter(lambda loss: "deep chain" not in loss.features)


# A jit per drawn loss takes a second or two: a few in the default run.
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(loss=LAYERED, data=st.data())
def test_jax_losses_give_eager_results(loss: Loss, data: st.DataObject) -> None:
    check(loss, data, backends=("jax",))


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=100, suppress_health_check=list(HealthCheck))
@given(loss=losses(budget=96).filter(lambda loss: "deep chain" not in loss.features), data=st.data())
def test_a_hundred_jax_losses_give_eager_results(loss: Loss, data: st.DataObject) -> None:
    check(loss, data, more=60, backends=("jax",))


def network() -> tuple[list[mg.Value], object]:
    model = MLP(2, [8, 8, 1], seed=3)
    params = model.parameters()

    def sample_loss(x0: mg.Value, x1: mg.Value, y: mg.Value) -> mg.Value:
        return (1 - y * model([x0, x1])).relu() + 1e-3 * sum(p * p for p in params)

    return params, sample_loss


def eager(sample_loss: object, params: list[mg.Value], rows: list[tuple[float, ...]]) -> tuple[float, list]:
    mg.zero_grad(params)
    total = sum(sample_loss(*[mg.Value(x) for x in row]) for row in rows)  # type: ignore[operator]
    total.backward()
    return total.data, [p.grad for p in params]


def test_batches_of_other_sizes_reuse_the_compiled_program() -> None:
    import jax

    params, sample_loss = network()
    step = mg.compile(sample_loss, params, backend="jax")
    for count in (100, 97, 112, 105):  # one bucket: padded to 112 samples
        rows = [(math.sin(k), math.cos(3 * k), 1.0 if k % 3 else -1.0) for k in range(count)]
        want_total, want = eager(sample_loss, params, rows)
        mg.zero_grad(params)
        total = step.backward(rows, reduction="sum")
        assert total == pytest.approx(want_total, rel=1e-12)
        assert [p.grad for p in params] == pytest.approx(want, rel=1e-10, abs=1e-14)
    assert not jax.config.jax_enable_x64  # float64 inside the step only, as a context
    compiled = step._compiled(3).batch.kernel.step  # type: ignore[attr-defined]
    assert compiled._cache_size() == 1


def test_threads_calling_one_step_at_once_get_what_each_gets_alone() -> None:
    """The padded batch is kept per thread: batches of one bucket and different samples, run
    in four threads at once, give bit for bit what each gives alone (and eager's numbers)."""
    import numpy as np

    params, sample_loss = network()
    step = mg.compile(sample_loss, params, backend="jax")
    run = step._compiled(3).batch  # type: ignore[attr-defined]
    P = np.array([p.data for p in params])

    def rows(count: int, seed: int) -> Any:
        k = np.arange(count) + 1000 * seed
        return np.column_stack([np.sin(k), np.cos(3 * k), np.where(k % 3, 1.0, -1.0)])

    batches = [rows(count, seed) for seed, count in enumerate((100, 97, 112, 105) * 3)]  # one bucket
    alone = [run(P, X, len(X)) for X in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda X: run(P, X, len(X)), batches))
    for X, (total, grads), (want_total, want) in zip(batches, together, alone, strict=True):
        assert total == want_total and grads.tolist() == want.tolist()
        eager_total, eager_grads = eager(sample_loss, params, [tuple(r) for r in X.tolist()])
        assert total == pytest.approx(eager_total, rel=1e-12)
        assert grads.tolist() == pytest.approx(eager_grads, rel=1e-10, abs=1e-14)


def test_a_padded_batch_keeps_an_infinite_gradient() -> None:
    # sqrt'(0) is infinite: a padding copy of that sample would add 0 * inf = NaN.
    w = mg.Value(0.0)
    step = mg.compile(lambda x: (w * x).sqrt(), [w], backend="jax")
    rows = [(1.0,), (2.0,), (3.0,)]  # padded to 8
    want_total, want = eager(lambda x: (w * x).sqrt(), [w], rows)
    w.grad = None
    assert step.backward(rows, reduction="sum") == want_total
    assert w.grad == want[0] == math.inf


def test_a_domain_error_is_eager_modes_and_only_its_sample_is_replayed() -> None:
    w = mg.Value(1.5)
    step = mg.compile(lambda x: (w * x).log(), [w], backend="jax")
    rows = [(1.0,), (2.0,), (-3.0,), (4.0,)]
    with counting_fallbacks() as replayed, pytest.raises(ValueError, match=r"log\(-4.5\)"):
        step.backward(rows)
    assert replayed == [1]
    assert w.grad is None
    nan_rows = [(1.0,), (math.nan,)]  # NaN is a value, not an error: no replay
    with counting_fallbacks() as replayed:
        assert math.isnan(step.backward(nan_rows))
    assert replayed == []


def test_a_large_batch_runs_in_chunks_with_eager_results_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from microgrsucc.compiler import jax_runtime

    # Chunks of at most 16 rows once a batch's widest array holds over 64 floats: 72 samples
    # (padded to 80) of a layer 8 wide run as 5 chunks of 16.
    monkeypatch.setattr(jax_runtime, "CHUNK", 16)
    monkeypatch.setattr(jax_runtime, "_CHUNK_FLOATS", 64)
    params, sample_loss = network()
    step = mg.compile(sample_loss, params, backend="jax")
    rows = [(math.sin(k), math.cos(3 * k), 1.0 if k % 3 else -1.0) for k in range(72)]
    want_total, want = eager(sample_loss, params, rows)
    mg.zero_grad(params)
    total = step.backward(rows, reduction="sum")
    assert total == pytest.approx(want_total, rel=1e-12)
    assert [p.grad for p in params] == pytest.approx(want, rel=1e-10, abs=1e-14)
    kernel = step._compiled(3).batch.kernel  # type: ignore[attr-defined]
    assert kernel.in_chunks._cache_size() == 1 and kernel.step._cache_size() == 0

    w = mg.Value(1.5)
    logs = mg.compile(lambda x: (w * x).log(), [w], backend="jax")
    samples = [(1.0 + k,) for k in range(72)]
    samples[50] = (-3.0,)  # in the fourth chunk
    with counting_fallbacks() as replayed, pytest.raises(ValueError, match=r"log\(-4.5\)"):
        logs.backward(samples)
    assert replayed == [1]
    assert logs._compiled(1).batch.kernel.in_chunks._cache_size() > 0  # type: ignore[attr-defined]


def test_a_function_jax_lacks_on_a_parameter_runs_compiled_with_eager_results() -> None:
    """math's remainder, which jax.numpy has none of, runs called back on the host; the check
    of its sample's domain too, out of the derivative's reach (jax cannot differentiate a
    callback: value_and_grad raised, and the whole batch went to the eager engine)."""
    remainder = mg.custom_op("remainder_by_1", lambda x: math.remainder(x, 1.0), lambda F, x, out: 1.0)
    w = mg.Value(0.7)

    def loss(x: mg.Value) -> mg.Value:
        return remainder(w * x) + (w * x).log()

    step = mg.compile(loss, [w], backend="jax")
    rows = [(0.25 * k,) for k in range(1, 12)]
    want_total, want = eager(loss, [w], rows)
    w.grad = None
    with counting_fallbacks() as replayed:
        total = step.backward(rows, reduction="sum")
    assert replayed == []
    assert total == pytest.approx(want_total, rel=1e-12) and w.grad == pytest.approx(want[0], rel=1e-12)


def test_an_error_of_jax_itself_is_named_not_taken_for_a_domain_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The program notes domain errors in its mask and never raises one: a ValueError or
    ArithmeticError out of jax is a bug to show, not a batch to hand to the eager engine."""
    w = mg.Value(1.5)
    step = mg.compile(lambda x: (w * x).log(), [w], backend="jax")
    step.backward([(1.0,)])
    kernel = step._compiled(1).batch.kernel  # type: ignore[attr-defined]

    def broken(*args: Any) -> Any:
        raise ValueError("a failure inside jax")

    monkeypatch.setattr(kernel, "step", broken)
    w.grad = None
    with counting_fallbacks() as replayed, pytest.raises(RuntimeError, match="a failure inside jax"):
        step.backward([(1.0,), (2.0,)])
    assert replayed == [] and w.grad is None


def test_parameters_given_as_an_array_are_read_and_the_penalty_is_one_call() -> None:
    from microgrsucc.compiler import jax_code

    check_array_parameters(jax_code.generate)


def test_an_op_jax_cannot_run_is_named() -> None:
    cbrt = c_cbrt()
    w = mg.Value(2.0)
    step = mg.compile(lambda x: cbrt(w * x), [w], backend="jax")
    with pytest.raises(TypeError, match=r"'cbrt_c'.*backend=.numpy."):
        step.backward([(1.0,)])


SHARDED = """
import jax, math
import microgrsucc as mg
from microgrsucc.nn import MLP
assert jax.device_count() == 2, jax.devices()
model = MLP(2, [4, 1], seed=0)
params = model.parameters()
loss = lambda a, b: (model([a, b]) - a * b) ** 2
rows = [(math.sin(k), math.cos(k)) for k in range(37)]
mg.zero_grad(params)
total = sum(loss(mg.Value(a), mg.Value(b)) for a, b in rows)
total.backward()
want = [p.grad for p in params]
mg.zero_grad(params)
got = mg.compile(loss, params, backend="jax").backward(rows, reduction="sum")
assert math.isclose(got, total.data, rel_tol=1e-12), (got, total.data)
assert all(math.isclose(p.grad, g, rel_tol=1e-10, abs_tol=1e-14) for p, g in zip(params, want))
print("sharded over", jax.device_count())
"""


@pytest.mark.slow  # a process that imports jax: seconds
def test_a_batch_is_sharded_across_two_cpu_devices() -> None:
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    import os

    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SHARDED)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sharded over 2" in done.stdout


@pytest.mark.accelerator
def test_the_step_runs_on_an_accelerator() -> None:
    import jax

    if jax.default_backend() == "cpu":
        pytest.skip("no GPU or TPU: jax runs on the CPU here")
    params, sample_loss = network()
    rows = [(math.sin(k), math.cos(3 * k), 1.0 if k % 3 else -1.0) for k in range(50)]
    want_total, want = eager(sample_loss, params, rows)
    mg.zero_grad(params)
    assert mg.compile(sample_loss, params, backend="jax").backward(rows, reduction="sum") == pytest.approx(
        want_total, rel=1e-10
    )
    assert [p.grad for p in params] == pytest.approx(want, rel=1e-9, abs=1e-13)


# nn.MLP up to width 128, batches across the tile and numpy's chunk, every sample layout, the
# parameters changed between calls: a compile each (seconds), so in the slow run only.
@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=40, suppress_health_check=list(HealthCheck))
@given(network=networks(widths=[1, 2, 5, 16, 32, 64, 128], counts=TILE_AND_CHUNK, nodes=60_000))
def test_networks_at_the_sizes_users_grow_them_to_give_eager_results(network: Any) -> None:
    check_network(network, ("jax",))
