"""The eager training step of ``bench_step.py`` timed for two checkouts of microgrsucc, interleaved.

"No slowdown" is checked with this: each round runs one process per checkout, alternating,
each timing ``--steps`` steps (after a warm-up step) with that checkout's package first on
``sys.path``; the medians over all rounds and their ratio are printed.

    git worktree add /tmp/base HEAD~1
    python benchmarks/ab.py /tmp/base . [--rounds 10] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# Run in each child: bench_step.py's model and data, microgrsucc only.
CHILD = """
import gc, json, statistics, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
import microgrsucc, bench_step
assert microgrsucc.__file__.startswith(sys.argv[1]), microgrsucc.__file__
engine = bench_step.engines(with_pytorch=False)[0]
xs, ys = bench_step.moons()
step = bench_step.make_step(engine, xs, ys)
step(); step()
times = []
for _ in range(int(sys.argv[3])):
    step(); gc.collect()
    start = time.perf_counter(); step(); times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the checkout to compare against")
    parser.add_argument("new", type=Path, help="the checkout with the change")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    benchmarks = str(Path(__file__).resolve().parent)
    times: dict[str, list[float]] = {"base": [], "new": []}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for _ in range(args.rounds):
        for name, tree in (("base", args.base), ("new", args.new)):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(tree.resolve()), benchmarks, str(args.steps)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            times[name].extend(json.loads(out))
    base, new = statistics.median(times["base"]), statistics.median(times["new"])
    print(f"{args.rounds} rounds x {args.steps} steps, interleaved; medians")
    print(f"base {args.base}: {base * 1e3:.2f} ms")
    print(f"new  {args.new}: {new * 1e3:.2f} ms")
    print(f"new / base = {new / base:.3f}")


if __name__ == "__main__":
    main()
