"""Eager mode's cost per graph node as the graph grows, with and without collector_paused().

The graph is bench_step.py's training step (MLP 2 -> 16 -> 16 -> 1, hinge loss plus L2)
over a batch of B half-moons points: about 650 nodes per sample plus about 700 for the L2
term, so B = 2, 15, 150, 1500 give about 10^3 to 10^6 nodes. One step is building the
graph, backward() and dropping the graph. Each measurement runs in its own process (so no
size finds the heap another left), the processes take turns over the rounds, and every
time is CPU time (time.process_time); medians over rounds. Also the batch-100 step against
the same step written by hand with Python floats (bench_compile.floats_step).

Settings of the cyclic collector:
- default: as Python starts (thresholds 700, 10, 10 on CPython 3.11);
- backward only: the collector off around ``backward()`` alone (the engine's own work);
- paused: ``with microgrsucc.collector_paused():`` around the whole step.

A second checkout (``--base``, e.g. ``git worktree add /tmp/base HEAD~1``) is timed with
its default setting beside this one.

    python benchmarks/bench_eager_scale.py [--quick] [--rounds 5] [--base /tmp/base]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# Run in each child: argv = tree, benchmarks dir, setting, batch, steps.
CHILD = """
import gc, json, resource, statistics, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
import microgrsucc
from microgrsucc.backward import below
from microgrsucc.datasets import make_moons
assert microgrsucc.__file__.startswith(sys.argv[1]), microgrsucc.__file__
setting, batch, steps = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

if setting == "floats":
    import bench_compile
    xs, ys = bench_compile.data(batch)
    run = bench_compile.floats_step(xs, ys)
    nodes = 1
else:
    xs, classes = make_moons(batch, noise=0.1, seed=0)
    import bench_step
    engine = bench_step.engines(with_pytorch=False)[0]
    loss, params = bench_step.make_loss(engine, xs, [1 if c == 1 else -1 for c in classes])
    nodes = len(below(loss()))

    def step():
        for p in params:
            p.grad = None
        total = loss()
        if setting == "backward only":
            gc.disable()
            try:
                total.backward()
            finally:
                gc.enable()
        else:
            total.backward()

    run = step
    if setting == "paused":
        def run():
            with microgrsucc.collector_paused():
                step()

run()
times, faults = [], []
for _ in range(steps):
    gc.collect()
    f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    run()
    times.append(time.process_time() - t0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps([nodes, statistics.median(times), statistics.median(faults)]))
"""

SETTINGS = ("default", "backward only", "paused")


def child(tree: Path, setting: str, batch: int, steps: int) -> tuple[int, float, float]:
    here = str(Path(__file__).resolve().parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree.resolve()), here, setting, str(batch), str(steps)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    nodes, seconds, faults = json.loads(out)
    return int(nodes), float(seconds), float(faults)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batches up to 150 (10^5 nodes)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", type=Path, help="another checkout, timed with the default setting")
    args = parser.parse_args()
    tree = Path(__file__).resolve().parent.parent
    batches = [2, 15, 150] if args.quick else [2, 15, 150, 1500]
    contenders = [(tree, s) for s in SETTINGS]
    if args.base:
        contenders.insert(0, (args.base, "default"))
    names = {(t, s): (f"base {s}" if t != tree else s) for t, s in contenders}
    results: dict[tuple[str, int], list[tuple[int, float, float]]] = {}
    floats: list[float] = []
    print(f"load average {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs; CPU time; medians")
    for _ in range(args.rounds):
        for batch in batches:
            steps = 3 if batch >= 1500 else 7
            for t, s in contenders:
                results.setdefault((names[t, s], batch), []).append(child(t, s, batch, steps))
        floats.append(child(tree, "floats", 100, 7)[1])
        for t, s in contenders:
            results.setdefault((names[t, s], 100), []).append(child(t, s, 100, 7))
    print(f"load average {os.getloadavg()[0]:.1f} after {args.rounds} rounds\n")

    print(f"{'setting':<16}" + "".join(f"{'B=' + str(b):>22}" for b in batches) + f"{'max/min':>9}")
    for t, s in contenders:
        name = names[t, s]
        cells, per_node = [], []
        for batch in batches:
            runs = results[name, batch]
            ns = statistics.median(r[1] / r[0] for r in runs) * 1e9
            per_node.append(ns)
            faults = statistics.median(r[2] for r in runs)
            cells.append(f"{runs[0][0]:>8} n {ns:>5.0f} ns {faults:>5.0f} pf")
        print(f"{name:<16}" + "".join(f"{c:>22}" for c in cells) + f"{max(per_node) / min(per_node):>8.2f}x")
    hand = statistics.median(floats)
    print(f"\nbatch-100 step (CPU ms) and its ratio to hand-written floats ({hand * 1e3:.2f} ms):")
    for t, s in contenders:
        step = statistics.median(r[1] for r in results[names[t, s], 100])
        print(f"  {names[t, s]:<16} {step * 1e3:8.2f} ms  {step / hand:5.2f}x")


if __name__ == "__main__":
    main()
