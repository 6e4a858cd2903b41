"""One training step of micrograd's demo problem, timed for microgrsucc and its peers.

The problem: an MLP 2 -> 16 -> 16 -> 1 (ReLU, last layer linear) on 100 two-dimensional
half-moons points, hinge loss relu(1 - y * score) averaged plus 1e-4 * sum(w**2); one step is
the forward pass and backward(), about 66,000 graph nodes. The same model code runs on each
engine, in one process, interleaved over several repetitions; medians and ratios are printed.
Each timed step follows an untimed step of the same engine and a full garbage collection;
three untimed rounds of all engines come first.

Peers: micrograd 0.1.0 (``pip install ".[bench]"``) and, where PyTorch is installed, 0-d
float64 tensors running the same scalar graph. Graph memory per node is measured with
tracemalloc on a chain of 100,000 multiplications (PyTorch allocates outside Python's allocator, so
tracemalloc cannot see its nodes).

    python benchmarks/bench_step.py [--repeats 15] [--without-pytorch]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import microgrsucc
from microgrsucc.datasets import make_moons


def moons() -> tuple[list[tuple[float, float]], list[int]]:
    """micrograd's demo data: 100 half-moons points, labels +1 and -1 for the hinge loss."""
    xs, classes = make_moons(100, noise=0.1, seed=0)
    return xs, [1 if c == 1 else -1 for c in classes]


class Engine:
    """How one engine makes a parameter and a constant, and clears a gradient."""

    def __init__(
        self,
        name: str,
        param: Callable[[float], Any],
        const: Callable[[float], Any],
        clear: Callable[[Any], None],
    ) -> None:
        self.name, self.param, self.const, self.clear = name, param, const, clear


def make_loss(
    engine: Engine, xs: Sequence[Sequence[float]], ys: list[int], seed: int = 1
) -> tuple[Callable[[], Any], list[Any]]:
    """The step's loss, built afresh at each call of the closure, and its parameters: an MLP
    2 -> 16 -> 16 -> 1, the hinge loss over ``xs`` plus 1e-4 * sum of squares."""
    rng = random.Random(seed)
    sizes = [2, 16, 16, 1]
    layers = [
        [([engine.param(rng.uniform(-1, 1)) for _ in range(nin)], engine.param(0.0)) for _ in range(nout)]
        for nin, nout in itertools.pairwise(sizes)
    ]
    params = [p for layer in layers for w, b in layer for p in [*w, b]]

    def model(x: list[Any]) -> Any:
        for i, layer in enumerate(layers):
            last = i == len(layers) - 1
            out = []
            for w, b in layer:
                act = sum((wi * xi for wi, xi in zip(w, x, strict=True)), b)
                out.append(act if last else act.relu())
            x = out
        return x[0]

    def loss() -> Any:
        inputs = [[engine.const(v) for v in row] for row in xs]
        scores = [model(row) for row in inputs]
        losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores, strict=True)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in params)
        return data_loss + reg_loss

    return loss, params


def make_step(
    engine: Engine, xs: Sequence[Sequence[float]], ys: list[int], seed: int = 1
) -> Callable[[], float]:
    """The step as a closure over this engine's parameters: the same code for every engine."""
    loss, params = make_loss(engine, xs, ys, seed)

    def step() -> float:
        total = loss()
        for p in params:
            engine.clear(p)
        total.backward()
        return float(total.data if hasattr(total, "data") else total)

    return step


def engines(with_pytorch: bool = True) -> list[Engine]:
    """microgrsucc, and each peer that is installed."""
    found = [Engine("microgrsucc", microgrsucc.Value, microgrsucc.Value, lambda p: setattr(p, "grad", 0.0))]
    try:
        from micrograd.engine import Value as MicrogradValue  # type: ignore[import-untyped]
    except ImportError:
        print("micrograd not installed: pip install '.[bench]'", file=sys.stderr)
    else:
        found.append(Engine("micrograd", MicrogradValue, MicrogradValue, lambda p: setattr(p, "grad", 0)))
    pytorch = pytorch_engine() if with_pytorch else None
    if pytorch is not None:
        found.append(pytorch)
    return found


def pytorch_engine() -> Engine | None:
    """0-d float64 tensors on one thread, where PyTorch is installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)

    def param(v: float) -> Any:
        return torch.tensor(v, dtype=torch.float64, requires_grad=True)

    def const(v: float) -> Any:
        return torch.tensor(v, dtype=torch.float64)

    return Engine(f"pytorch {torch.__version__} 0-d", param, const, lambda p: setattr(p, "grad", None))


def time_steps(found: list[Engine], repeats: int, warmup: int = 3) -> dict[str, list[float]]:
    """Per engine, the times of ``repeats`` steps, after ``warmup`` untimed rounds of all engines."""
    xs, ys = moons()
    steps = {e.name: make_step(e, xs, ys) for e in found}
    losses = {name: step() for name, step in steps.items()}  # warm up, and check they agree
    first = next(iter(losses.values()))
    for name, loss in losses.items():
        if not math.isclose(loss, first, rel_tol=1e-9):
            raise SystemExit(f"{name} computed loss {loss}, expected {first}: not the same step")
    return interleave(steps, repeats, warmup)


def interleave(steps: dict[str, Callable[[], Any]], repeats: int, warmup: int = 3) -> dict[str, list[float]]:
    """Per step function, ``repeats`` times, the steps taking turns, after ``warmup`` rounds."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(warmup + repeats):
        for name, step in steps.items():
            # As in a training loop, the timed step follows a step of the same engine, so it
            # finds the heap as that engine left it, not as another engine did. Collecting
            # first means no engine pays for another's garbage, nor for the previous step's.
            step()
            gc.collect()
            start = time.perf_counter()
            step()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def chain_bytes_per_node(engine: Engine, n: int = 100_000) -> float:
    """tracemalloc bytes per node of a live chain y = y * x of n ops: one new node and value each."""
    gc.collect()
    x = engine.param(1.0)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    y = x
    for _ in range(n):
        y = y * x
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del y
    return (after - before) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per engine (default 15)")
    parser.add_argument(
        "--without-pytorch",
        action="store_true",
        help="leave PyTorch out even where installed (its objects make the cyclic collector slower)",
    )
    args = parser.parse_args()

    found = engines(with_pytorch=not args.without_pytorch)
    print(f"Python {sys.version.split()[0]}; {args.repeats} interleaved repetitions; medians\n")
    times = time_steps(found, args.repeats)
    ours = statistics.median(times["microgrsucc"])
    print(f"{'engine':<24} {'step (ms)':>10} {'microgrsucc is':>16}")
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = "" if name == "microgrsucc" else f"{med / ours:.1f}x faster"
        print(f"{name:<24} {med * 1e3:>10.1f} {ratio:>16}")

    print(f"\n{'engine':<24} {'bytes/node':>10}   (tracemalloc, chain of 100,000 multiplications)")
    for engine in found:
        if engine.name.startswith("pytorch"):
            print(f"{engine.name:<24} {'n/a':>10}   (allocates outside tracemalloc's view)")
            continue
        print(f"{engine.name:<24} {chain_bytes_per_node(engine):>10.1f}")


if __name__ == "__main__":
    main()
