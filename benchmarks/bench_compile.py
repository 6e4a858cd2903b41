"""Compiled training steps against the eager engine, hand-written floats and batched PyTorch.

The workload is bench_step.py's: an MLP 2 -> 16 -> 16 -> 1 (ReLU, last layer linear) on
half-moons points, hinge loss relu(1 - y * score) averaged plus 1e-4 * sum(w**2), forward
and backward. Contenders, each timed as one step after an untimed step of its own and a
full garbage collection, interleaved over the repetitions (medians):

- eager: microgrsucc building and walking the whole graph (bench_step.make_step);
- compiled python / numpy: ``microgrsucc.compile`` of the per-sample loss
  (``step.backward(samples)``; numpy gets the samples as one float64 array, as PyTorch gets
  tensors);
- hand-written floats: the same forward and backward written by hand with Python floats
  and lists, the floor an interpreter-bound Python step is compared against;
- PyTorch, where installed: the same MLP with batched matmuls, float64, one thread.

Also: compile time (trace and code generation), and the eager step under three garbage
collector settings, timed over runs of consecutive steps as in a training loop.

    python benchmarks/bench_compile.py [--repeats 15] [--without-pytorch]
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
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_step import Engine, interleave, make_step  # noqa: E402

import microgrsucc  # noqa: E402
from microgrsucc.datasets import make_moons  # noqa: E402

SIZES = [2, 16, 16, 1]
Layers = list[list[tuple[list[float], float]]]


def data(n: int) -> tuple[list[tuple[float, float]], list[int]]:
    xs, classes = make_moons(n, noise=0.1, seed=0)
    return xs, [1 if c == 1 else -1 for c in classes]


def initial_weights(seed: int = 1) -> Layers:
    """bench_step's initialisation: weights uniform in (-1, 1), biases 0."""
    rng = random.Random(seed)
    return [
        [([rng.uniform(-1, 1) for _ in range(nin)], 0.0) for _ in range(nout)]
        for nin, nout in itertools.pairwise(SIZES)
    ]


def sample_problem() -> tuple[Callable[..., Any], list[microgrsucc.Value]]:
    """The per-sample loss of the workload, and its parameters."""
    layers = [
        [([microgrsucc.Value(w) for w in ws], microgrsucc.Value(b)) for ws, b in layer]
        for layer in initial_weights()
    ]
    params = [p for layer in layers for w, b in layer for p in [*w, b]]

    def score(x: list[Any]) -> Any:
        for i, layer in enumerate(layers):
            out = [sum((wi * xi for wi, xi in zip(w, x, strict=True)), b) for w, b in layer]
            x = out if i == len(layers) - 1 else [a.relu() for a in out]
        return x[0]

    def sample_loss(x0: Any, x1: Any, y: Any) -> Any:
        return (1 + -y * score([x0, x1])).relu() + 1e-4 * sum(p * p for p in params)

    return sample_loss, params


def compiled_step(backend: str, xs: list[tuple[float, float]], ys: list[int]) -> Callable[[], float]:
    sample_loss, params = sample_problem()
    step = microgrsucc.compile(sample_loss, params, backend=backend)
    samples: Any = [(a, b, y) for (a, b), y in zip(xs, ys, strict=True)]
    if backend == "numpy":
        import numpy as np

        samples = np.array(samples, dtype=float)

    def run() -> float:
        for p in params:
            p.grad = 0.0
        return step.backward(samples)

    return run


def variants(xs: list[tuple[float, float]], ys: list[int]) -> dict[str, Callable[[], float]]:
    """The generated code with one technique turned off at a time, called directly."""
    import numpy as np

    from microgrsucc.compiler import numpy_code, python_code
    from microgrsucc.compiler.trace import trace

    sample_loss, params = sample_problem()
    traced = trace(sample_loss, params, 3)
    values = [p.data for p in params]
    rows = [(a, b, float(y)) for (a, b), y in zip(xs, ys, strict=True)]
    array = np.array(rows)
    made = {
        "python": (python_code.generate(traced)[0], rows),
        "python, nothing inlined": (python_code.generate(traced, inline=False)[0], rows),
        "numpy": (numpy_code.generate(traced)[0], array),
        "numpy, no matrix products": (numpy_code.generate(traced, matmul=False)[0], array),
    }
    return {name: (lambda f=f, s=s: f(values, s, len(s))[0]) for name, (f, s) in made.items()}


def floats_step(xs: list[tuple[float, float]], ys: list[int]) -> Callable[[], float]:
    """Forward and backward by hand, with Python floats and lists: the floor."""
    layers = initial_weights()
    last = len(layers) - 1

    def run() -> float:
        grads = [[([0.0] * len(w), [0.0]) for w, _ in layer] for layer in layers]
        total = 0.0
        scale = 1.0 / len(xs)
        for x, y in zip(xs, ys, strict=True):
            acts: list[list[float]] = [list(x)]
            pres: list[list[float]] = []
            a: list[float] = acts[0]
            for i, layer in enumerate(layers):
                z = [b + sum(wi * ai for wi, ai in zip(w, a, strict=True)) for w, b in layer]
                pres.append(z)
                a = z if i == last else [zi if zi > 0.0 else 0.0 for zi in z]
                acts.append(a)
            margin = 1.0 - y * a[0]
            if margin <= 0.0:
                continue
            total += margin
            delta = [-y * scale]
            for i in range(last, -1, -1):
                if i != last:
                    delta = [d if zi > 0.0 else 0.0 for d, zi in zip(delta, pres[i], strict=True)]
                a_in = acts[i]
                for (gw, gb), d in zip(grads[i], delta, strict=True):
                    for k, ak in enumerate(a_in):
                        gw[k] += d * ak
                    gb[0] += d
                if i:
                    delta = [
                        sum(d * w[k] for d, (w, _) in zip(delta, layers[i], strict=True))
                        for k in range(len(a_in))
                    ]
        reg = 0.0
        for layer, glayer in zip(layers, grads, strict=True):
            for (w, b), (gw, gb) in zip(layer, glayer, strict=True):
                for k, wk in enumerate(w):
                    reg += wk * wk
                    gw[k] += 2e-4 * wk
                reg += b * b
                gb[0] += 2e-4 * b
        return total * scale + 1e-4 * reg

    return run


USE_TORCH = True


def torch_step(xs: list[tuple[float, float]], ys: list[int]) -> Callable[[], float] | None:
    if not USE_TORCH:
        return None
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    weights = [
        (
            torch.tensor([w for w, _ in layer], dtype=torch.float64, requires_grad=True),
            torch.tensor([b for _, b in layer], dtype=torch.float64, requires_grad=True),
        )
        for layer in initial_weights()
    ]
    params = [p for pair in weights for p in pair]
    X = torch.tensor(xs, dtype=torch.float64)
    Y = torch.tensor(ys, dtype=torch.float64).unsqueeze(1)

    def run() -> float:
        for p in params:
            p.grad = None
        h = X
        for i, (w, b) in enumerate(weights):
            h = h @ w.T + b
            if i < len(weights) - 1:
                h = torch.relu(h)
        loss = torch.relu(1 - Y * h).mean() + 1e-4 * sum((p * p).sum() for p in params)
        loss.backward()
        return float(loss.detach())

    return run


def interleaved(steps: dict[str, Callable[[], float]], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Medians of bench_step's interleaved timing."""
    return {name: statistics.median(ts) for name, ts in interleave(steps, repeats, warmup).items()}


def compile_time(backend: str, repeats: int = 7) -> float:
    xs, ys = data(100)
    found = []
    for _ in range(repeats):
        step = compiled_step(backend, xs, ys)
        start = time.perf_counter()
        step()  # the first call traces and generates the code
        first = time.perf_counter() - start
        start = time.perf_counter()
        step()
        found.append(first - (time.perf_counter() - start))
    return statistics.median(found)


def eager_gc(repeats: int, run: int = 5) -> dict[str, float]:
    """The eager step's median over runs of ``run`` consecutive steps, per collector setting."""
    xs, ys = data(100)
    step = make_step(
        Engine("microgrsucc", microgrsucc.Value, microgrsucc.Value, lambda p: setattr(p, "grad", 0.0)), xs, ys
    )
    settings = {
        "default thresholds (700, 10, 10)": lambda: gc.set_threshold(700, 10, 10),
        "gc.set_threshold(100_000, 50, 100)": lambda: gc.set_threshold(100_000, 50, 100),
        "gc.freeze() after setup, then as above": lambda: (gc.freeze(), gc.set_threshold(100_000, 50, 100)),
    }
    times: dict[str, list[float]] = {name: [] for name in settings}
    saved = gc.get_threshold()
    try:
        for _ in range(repeats):
            for name, apply in settings.items():
                gc.collect()
                apply()
                start = time.perf_counter()
                for _ in range(run):
                    step()
                times[name].append((time.perf_counter() - start) / run)
                gc.unfreeze()
                gc.set_threshold(*saved)
    finally:
        gc.set_threshold(*saved)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per contender (default 15)")
    parser.add_argument(
        "--without-pytorch",
        action="store_true",
        help="leave PyTorch out even where installed (its objects make the eager step's collector slower)",
    )
    args = parser.parse_args()
    global USE_TORCH
    USE_TORCH = not args.without_pytorch
    print(
        f"Python {sys.version.split()[0]}; {time.strftime('%Y-%m-%d')}; "
        f"{args.repeats} interleaved repetitions; medians; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores\n"
    )

    xs, ys = data(100)
    steps: dict[str, Callable[[], float]] = {
        "eager microgrsucc": make_step(
            Engine("microgrsucc", microgrsucc.Value, microgrsucc.Value, lambda p: setattr(p, "grad", 0.0)),
            xs,
            ys,
        ),
        "hand-written floats": floats_step(xs, ys),
        "compiled python": compiled_step("python", xs, ys),
        "compiled numpy": compiled_step("numpy", xs, ys),
    }
    pytorch = torch_step(xs, ys)
    if pytorch is not None:
        steps["pytorch batched"] = pytorch
    losses = {name: step() for name, step in steps.items()}
    first = losses["eager microgrsucc"]
    for name, loss in losses.items():
        if not math.isclose(loss, first, rel_tol=1e-9):
            raise SystemExit(f"{name} computed loss {loss}, expected {first}: not the same step")
    med = interleaved(steps, args.repeats)
    floor = med["hand-written floats"]
    eager = med["eager microgrsucc"]
    print("batch 100 (the demo workload):")
    print(f"{'contender':<22} {'step (ms)':>10} {'x floats':>9} {'eager / this':>13}")
    for name, t in med.items():
        print(f"{name:<22} {t * 1e3:>10.3f} {t / floor:>9.2f} {eager / t:>13.1f}")

    print("\ncompile time (trace + code generation, per-sample graph):")
    for backend in ("python", "numpy"):
        print(f"  {backend:<7} {compile_time(backend) * 1e3:7.1f} ms")

    print("\nnumpy backend against PyTorch batched, by batch size:")
    print(f"{'batch':>7} {'numpy (ms)':>11} {'pytorch (ms)':>13} {'numpy / pytorch':>16}")
    for n in (100, 1000, 10000):
        bx, by = data(n)
        pair = {"numpy": compiled_step("numpy", bx, by)}
        batched = torch_step(bx, by)
        if batched is not None:
            pair["pytorch"] = batched
        m = interleaved(pair, args.repeats)
        torch_ms = f"{m['pytorch'] * 1e3:13.3f}" if "pytorch" in m else f"{'n/a':>13}"
        ratio = f"{m['numpy'] / m['pytorch']:16.2f}" if "pytorch" in m else f"{'':>16}"
        print(f"{n:>7} {m['numpy'] * 1e3:>11.3f} {torch_ms} {ratio}")

    print("\nwhat each technique buys (the generated code alone, batch 100):")
    for name, t in interleaved(variants(xs, ys), args.repeats).items():
        print(f"  {name:<26} {t * 1e3:8.3f} ms")

    print("\neager step by garbage collector setting (runs of 5 steps, no collection in between):")
    for name, t in eager_gc(max(3, args.repeats // 3)).items():
        print(f"  {name:<42} {t * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
