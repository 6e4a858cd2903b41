"""Compiled steps as the model and the batch grow, beside batched PyTorch and a hand-written JAX jit.

The workload: an MLP 2 -> W -> W -> 1 (ReLU, last layer linear) on half-moons points, hinge
loss relu(1 - y * score) averaged plus 1e-4 * sum(p**2) over every weight and bias, forward
and backward of a batch. For each width W (16, 32, 64, 128) and batch (100, 1,000, 10,000,
100,000) it times:

- every backend of ``microgrsucc.compile`` (``microgrsucc.compiler.BACKENDS``: python,
  numpy, numba and jax, those whose extra is installed; a new backend is timed with nothing
  added here), its parameters held by a ``microgrsucc.FlatParameter`` (the step reads and
  writes two arrays, and zeroing the gradients is one call, as for torch); with
  ``--values``, plain Values instead (each ``p.data`` read and ``p.grad`` written).
  numba's kernels are cached under ``~/.cache/microgrsucc`` (set ``MICROGRSUCC_CACHE_DIR``
  for a fresh one: the compile time is then numba's). The python backend gets the samples
  as a list of tuples, every other backend as one float64 array;
- PyTorch, batched float64 matmuls on one thread;
- JAX, the same step written by hand with ``jax.numpy``, float64, ``jit(value_and_grad)``.

Every time is CPU time of the whole process (``time.process_time``: all threads, so a
library that spreads over cores is not flattered). The contenders take turns within each
round (interleaved), each timed over a block of calls long enough to measure (at least
``--block`` seconds) after an untimed call of its own; medians over the rounds. Page
faults are minor faults per call over the block (``resource.getrusage``): a step that maps
fresh memory on every call shows them. A contender whose previous batch predicts more than
``--budget`` seconds per call is skipped ("-"). Also per width: compile time (the first
call minus a later one: trace and code generation) and the generated source's length.

The machine's load average is printed before and after: on a shared machine the absolute
times move with it, the ratios measured in one interleaved run much less.

    python benchmarks/bench_scale.py [--quick] [--rounds 5] [--block 0.2] [--budget 3]
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS, as for PyTorch (set before numpy is imported).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import microgrsucc  # noqa: E402
from microgrsucc.compiler import BACKENDS as ALL_BACKENDS  # noqa: E402


def _installed(backend: str) -> bool:
    try:
        microgrsucc.compile(lambda x: x, [], backend=backend)
    except ImportError:  # its extra is not installed: left out of the table
        return False
    return True


BACKENDS = tuple(b for b in ALL_BACKENDS if _installed(b))
from microgrsucc.datasets import make_moons  # noqa: E402

WIDTHS = (16, 32, 64, 128)
BATCHES = (100, 1_000, 10_000, 100_000)
QUICK_WIDTHS = (16, 32)
QUICK_BATCHES = (100, 1_000, 10_000)
L2 = 1e-4

Weights = list[tuple[list[list[float]], list[float]]]  # per layer: rows of weights, biases
Step = Callable[[], float]


def weights(width: int, seed: int = 1) -> Weights:
    """Weights uniform in (-1, 1) and biases 0, the same for every contender."""
    rng = random.Random(seed)
    sizes = [2, width, width, 1]
    return [
        ([[rng.uniform(-1, 1) for _ in range(nin)] for _ in range(nout)], [0.0] * nout)
        for nin, nout in itertools.pairwise(sizes)
    ]


def data(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` half-moons points and their labels +1 / -1, as float64 arrays."""
    xs, classes = make_moons(batch, noise=0.1, seed=0)
    return np.array(xs, dtype=float), np.array([1.0 if c == 1 else -1.0 for c in classes])


# --- microgrsucc.compile, every backend -------------------------------------------------------


def compiled(
    backend: str, w: Weights, flat: bool = False
) -> tuple[microgrsucc.compiler.CompiledLoss, list[microgrsucc.Value]]:
    """The per-sample loss compiled with ``backend``, and its parameters (with ``flat``,
    views of a FlatParameter given to ``compile``, as docs/compile.md shows)."""
    layers = [
        ([[microgrsucc.Value(v) for v in row] for row in rows], [microgrsucc.Value(b) for b in bs])
        for rows, bs in w
    ]
    params = [p for rows, bs in layers for row, b in zip(rows, bs, strict=True) for p in [*row, b]]

    def sample_loss(x0: Any, x1: Any, y: Any) -> Any:
        x = [x0, x1]
        for i, (rows, bs) in enumerate(layers):
            out = [
                sum((wi * xi for wi, xi in zip(row, x, strict=True)), b)
                for row, b in zip(rows, bs, strict=True)
            ]
            x = out if i == len(layers) - 1 else [a.relu() for a in out]
        return (1 + -y * x[0]).relu() + L2 * sum(p * p for p in params)

    given = microgrsucc.FlatParameter(params) if flat else params
    return microgrsucc.compile(sample_loss, given, backend=backend), params


def samples_for(backend: str, X: np.ndarray, Y: np.ndarray) -> Any:
    """The batch as the backend takes it best: tuples for python, one array otherwise."""
    table = np.column_stack([X, Y])
    return [tuple(row) for row in table.tolist()] if backend == "python" else table


FLAT = True  # the compiled steps' parameters in a FlatParameter (--values: plain Values)


def compiled_step(backend: str, w: Weights, X: np.ndarray, Y: np.ndarray) -> Step:
    step, params = compiled(backend, w, FLAT)
    samples = samples_for(backend, X, Y)
    if FLAT:
        flat = microgrsucc.flat.owner(params[0])
        assert flat is not None

        def run_flat() -> float:
            flat.zero_grad()
            return step.backward(samples)

        return run_flat

    def run() -> float:
        for p in params:
            p.grad = None
        return step.backward(samples)

    return run


def compile_cost(backend: str, w: Weights) -> tuple[float, int]:
    """CPU seconds of tracing and generating code (first call minus a later one), and source lines."""
    X, Y = data(100)
    step, params = compiled(backend, w)
    samples = samples_for(backend, X, Y)
    times = []
    for _ in range(2):
        for p in params:
            p.grad = 0.0
        start = time.process_time()
        step.backward(samples)
        times.append(time.process_time() - start)
    return times[0] - times[1], len(step.source(3).splitlines())


# --- the peers --------------------------------------------------------------------------------


def torch_step(w: Weights, X: np.ndarray, Y: np.ndarray) -> Step | None:
    """The step in PyTorch: batched float64 matmuls, one thread."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    layers = [
        (
            torch.tensor(rows, dtype=torch.float64, requires_grad=True),
            torch.tensor(bs, dtype=torch.float64, requires_grad=True),
        )
        for rows, bs in w
    ]
    params = [p for pair in layers for p in pair]
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y).unsqueeze(1)

    def run() -> float:
        for p in params:
            p.grad = None
        h = Xt
        for i, (wt, bt) in enumerate(layers):
            h = h @ wt.T + bt
            if i < len(layers) - 1:
                h = torch.relu(h)
        loss = torch.relu(1 - Yt * h).mean() + L2 * sum((p * p).sum() for p in params)
        loss.backward()
        return float(loss.detach())

    return run


_jax_step: Any = None


def jax_step(w: Weights, X: np.ndarray, Y: np.ndarray) -> Step | None:
    """The step written by hand in jax.numpy, float64, jit of value_and_grad."""
    global _jax_step
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    if _jax_step is None:

        def loss(params: list[Any], x: Any, y: Any) -> Any:
            h = x
            for i in range(0, len(params), 2):
                h = h @ params[i].T + params[i + 1]
                if i < len(params) - 2:
                    h = jnp.maximum(h, 0.0)
            data_loss = jnp.mean(jnp.maximum(1.0 - y * h[:, 0], 0.0))
            return data_loss + L2 * sum(jnp.vdot(p, p) for p in params)

        _jax_step = jax.jit(jax.value_and_grad(loss))
    params = [jnp.asarray(np.array(a, dtype=float)) for rows, bs in w for a in (rows, bs)]
    x, y = jnp.asarray(X), jnp.asarray(Y)
    f = _jax_step

    def run() -> float:
        value, grads = f(params, x, y)
        jax.block_until_ready(grads)
        return float(value)

    return run


# --- timing -----------------------------------------------------------------------------------


def blas_kernels() -> str:
    """Which matrix kernels the peers run: numpy's BLAS and the CPU architecture it runs them
    for (threadpoolctl, if installed), and PyTorch's CPU capability. OpenBLAS picks kernels
    for the CPU when numpy is imported, unless the environment variable
    ``OPENBLAS_CORETYPE`` names them (a machine's image may set it: the AMD EPYC machines
    of docs/performance.md had ``OPENBLAS_CORETYPE=Haswell``, AVX2 kernels on a CPU with
    AVX-512, where OpenBLAS itself picks SkylakeX); the kernels move every numpy ratio, so
    the variable is printed too."""
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]
    except ImportError:
        found = "unknown (pip install threadpoolctl to see it)"
    else:
        found = ", ".join(
            f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')} kernels)"
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        )
    chosen = os.environ.get("OPENBLAS_CORETYPE")
    found += f", OPENBLAS_CORETYPE={chosen} in the environment" if chosen else ", OPENBLAS_CORETYPE not set"
    try:
        import torch
    except ImportError:
        return f"numpy's BLAS: {found}"
    return f"numpy's BLAS: {found}; PyTorch's CPU capability: {torch.backends.cpu.get_cpu_capability()}"


def timed_block(run: Step, block: float) -> tuple[float, float]:
    """CPU seconds and minor page faults per call, over enough calls to fill ``block`` seconds."""
    start = time.process_time()
    run()  # untimed: it also says how many calls fill the block
    once = time.process_time() - start
    calls = max(1, min(1000, math.ceil(block / max(once, 1e-6))))
    gc.collect()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.process_time()
    for _ in range(calls):
        run()
    seconds = time.process_time() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return seconds / calls, faults / calls


def contenders(width: int, X: np.ndarray, Y: np.ndarray, skip: set[str]) -> dict[str, Step]:
    w = weights(width)
    found: dict[str, Step | None] = {"torch": torch_step(w, X, Y), "jax jit": jax_step(w, X, Y)}
    for backend in BACKENDS:
        found[backend] = None if backend in skip else compiled_step(backend, w, X, Y)
    steps = {name: step for name, step in found.items() if step is not None}
    losses = {name: step() for name, step in steps.items()}  # also the first, compiling call
    first = losses.get("torch", next(iter(losses.values())))
    for name, value in losses.items():
        if not math.isclose(value, first, rel_tol=1e-9):
            raise SystemExit(f"W={width}: {name} computed loss {value}, torch {first}: not the same step")
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"widths {QUICK_WIDTHS}, batches {QUICK_BATCHES}"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--block", type=float, default=0.2, help="CPU seconds per timed block (default 0.2)")
    parser.add_argument(
        "--budget", type=float, default=3.0, help="skip calls predicted slower (s, default 3)"
    )
    parser.add_argument(
        "--values", action="store_true", help="compiled steps over plain Values, not a FlatParameter"
    )
    parser.add_argument("--widths", type=int, nargs="*", help="widths to run (default: all, or --quick's)")
    args = parser.parse_args()
    global FLAT
    FLAT = not args.values
    widths, batches = (QUICK_WIDTHS, QUICK_BATCHES) if args.quick else (WIDTHS, BATCHES)

    widths = tuple(args.widths or widths)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs")
    print(blas_kernels())
    print(
        f"backends: {', '.join(BACKENDS)}, parameters "
        f"{'as plain Values' if args.values else 'in a FlatParameter'}; CPU time of all threads; "
        f"{args.rounds} interleaved rounds, medians\n"
    )
    print(f"{'W':>4} {'backend':<8} {'compile (s)':>11} {'source lines':>13}")
    for width in widths:
        for backend in BACKENDS:
            seconds, lines = compile_cost(backend, weights(width))
            print(f"{width:>4} {backend:<8} {seconds:>11.3f} {lines:>13}")

    names = ["torch", "jax jit", *BACKENDS]
    print(f"\nms per call (x torch), minor page faults per call; '-' skipped (over {args.budget} s)")
    print(f"{'W':>4} {'batch':>7} " + " ".join(f"{n:>24}" for n in names))
    for width in widths:
        predicted: dict[str, float] = {}  # seconds per sample at the previous batch
        for batch in batches:
            skip = {b for b in BACKENDS if predicted.get(b, 0.0) * batch > args.budget}
            X, Y = data(batch)
            steps = contenders(width, X, Y, skip)
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
            for _ in range(args.rounds):
                for name, run in steps.items():
                    times[name].append(timed_block(run, args.block))
            med = {
                n: (statistics.median(t for t, _ in ts), statistics.median(f for _, f in ts))
                for n, ts in times.items()
            }
            predicted.update({n: t / batch for n, (t, _) in med.items()})
            torch_time = med["torch"][0] if "torch" in med else math.nan
            cells = []
            for n in names:
                if n not in med:
                    cells.append("-")
                    continue
                t, f = med[n]
                ratio = "" if n == "torch" else f" ({t / torch_time:.2f}x)"
                cells.append(f"{t * 1e3:.3f}{ratio} {f:.0f}pf")
            print(f"{width:>4} {batch:>7} " + " ".join(f"{c:>24}" for c in cells), flush=True)
        del steps
    print(f"\nload average {os.getloadavg()[0]:.1f} (1 min) at the end")


if __name__ == "__main__":
    main()
