"""Eager mode's step split into its phases, per graph node: build, ``backward()``, drop.

bench_step.py's loss (``make_loss``: MLP 2 -> 16 -> 16 -> 1, hinge loss plus L2) over a batch
of B half-moons points, in one process, with the cyclic collector off (``collector_paused``),
after one warm step; CPU time per node of each phase and minor page faults per step,
medians over the steps.

    python benchmarks/eager_phases.py [--steps 6] [B ...]     (default B: 2 15 150 1500)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_step

import microgrsucc
from microgrsucc.backward import below
from microgrsucc.datasets import make_moons


def phases(batch: int, steps: int) -> tuple[int, list[float], float]:
    """Nodes of the graph, median CPU ns per node of build/backward/drop, median faults."""
    xs, classes = make_moons(batch, noise=0.1, seed=0)
    engine = bench_step.engines(with_pytorch=False)[0]
    loss, params = bench_step.make_loss(engine, xs, [1 if c == 1 else -1 for c in classes])
    nodes = len(below(loss()))
    times: list[list[float]] = [[], [], []]
    faults = []
    with microgrsucc.collector_paused():
        for _ in range(steps + 1):  # the first is warm-up
            for p in params:
                p.grad = None
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.process_time()
            total = loss()
            t1 = time.process_time()
            total.backward()
            t2 = time.process_time()
            del total
            t3 = time.process_time()
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
            for k, t in enumerate((t1 - t0, t2 - t1, t3 - t2)):
                times[k].append(t / nodes * 1e9)
    return nodes, [statistics.median(t[1:]) for t in times], statistics.median(faults[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batches", nargs="*", type=int, default=[2, 15, 150, 1500])
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; CPU ns per node, medians of {args.steps} steps")
    print(f"{'B':>6} {'nodes':>8} {'build':>7} {'backward':>9} {'drop':>6} {'total':>7} {'faults':>8}")
    for batch in args.batches:
        nodes, (build, back, drop), faults = phases(batch, args.steps)
        total = build + back + drop
        print(f"{batch:>6} {nodes:>8} {build:>7.0f} {back:>9.0f} {drop:>6.0f} {total:>7.0f} {faults:>8.0f}")


if __name__ == "__main__":
    main()
