"""bench_scale.py's compiled steps timed for two checkouts of microgrsucc, interleaved.

For a change that should make a step faster (or not slower): one long-lived process per
checkout (its package first on ``sys.path``) builds bench_scale.py's steps (its MLP, its
FlatParameter, its half-moons batch) once; then, round after round, each process times a
block of calls of each step in turn (``--block`` CPU seconds, after one untimed call), the
two checkouts alternating which goes first. PyTorch's batched step, timed the same way in
the base process, gives the ratios bench_scale.py prints. Medians over the rounds and the
fastest block (on a loaded machine the least disturbed), CPU time (``time.process_time``)
per call; the load average before and after.

    git worktree add /tmp/base main
    python benchmarks/ab_scale.py /tmp/base . --widths 16 128 --backends numpy numba --batch 100
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# Run in each child: answers "W backend batch block" with the CPU seconds per call of a block.
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
import microgrsucc, bench_scale
assert microgrsucc.__file__.startswith(sys.argv[1]), microgrsucc.__file__
steps = {}
for line in sys.stdin:
    width, backend, batch, block = line.split()
    key = width, backend, batch
    if key not in steps:
        w = bench_scale.weights(int(width))
        X, Y = bench_scale.data(int(batch))
        make = bench_scale.torch_step if backend == "torch" else bench_scale.compiled_step
        steps[key] = make(w, X, Y) if backend == "torch" else make(backend, w, X, Y)
        steps[key]()
    seconds, _ = bench_scale.timed_block(steps[key], float(block))
    print(json.dumps(seconds), flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the checkout to compare against")
    parser.add_argument("new", type=Path, help="the checkout with the change")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba"])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=float, default=0.1, help="CPU seconds per timed block")
    args = parser.parse_args()
    benchmarks = str(Path(__file__).resolve().parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tree.resolve()), benchmarks],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, tree in (("base", args.base), ("new", args.new))
    }

    def timed(name: str, width: int, backend: str) -> float:
        child = children[name]
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(f"{width} {backend} {args.batch} {args.block}\n")
        child.stdin.flush()
        return float(json.loads(child.stdout.readline()))

    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the start")
    found: dict[tuple[int, str, str], list[float]] = {}
    for r in range(args.rounds):
        order = ("base", "new") if r % 2 == 0 else ("new", "base")
        for width in args.widths:
            found.setdefault((width, "torch", "base"), []).append(timed("base", width, "torch"))
            for backend in args.backends:
                for name in order:
                    found.setdefault((width, backend, name), []).append(timed(name, width, backend))
    for child in children.values():
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    print(f"batch {args.batch}, {args.rounds} interleaved rounds of {args.block} s blocks; CPU µs per call")
    for name, summary in (("medians", statistics.median), ("fastest blocks", min)):
        med = {key: summary(ts) for key, ts in found.items()}
        print(f"\n{name}\n{'W':>4} {'backend':<8} {'base':>16} {'new':>16} {'new/base':>9}")
        for width in args.widths:
            torch = med[width, "torch", "base"]
            print(f"{width:>4} {'torch':<8} {torch * 1e6:>16.1f}")
            for backend in args.backends:
                base, new = med[width, backend, "base"], med[width, backend, "new"]
                cells = [f"{t * 1e6:.1f} ({t / torch:.3f}x)" for t in (base, new)]
                print(f"{width:>4} {backend:<8} {cells[0]:>16} {cells[1]:>16} {new / base:>9.3f}")
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end")


if __name__ == "__main__":
    main()
