"""The eager training step of ``bench_step.py`` timed for two checkouts of microgrsucc, interleaved.

"No slowdown" is checked with this: each round runs one process per checkout, alternating,
each timing ``--steps`` steps (after ``--warmup`` untimed steps) with that checkout's package first on
``sys.path``; the medians over all rounds (wall and CPU time) and their ratios are printed.

    git worktree add /tmp/base HEAD~1
    python benchmarks/ab.py /tmp/base . [--rounds 10] [--steps 5] [--warmup 2]

With ``--compile BACKEND --batch N`` the step timed is bench_compile.py's compiled step
(``microgrsucc.compile``, that backend, N half-moons samples) instead; wall and CPU time.
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
for _ in range(int(sys.argv[4])):
    step()
times = []
for _ in range(int(sys.argv[3])):
    step(); gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    step()
    times.append([time.perf_counter() - start, time.process_time() - cpu])
print(json.dumps(times))
"""

# The same for bench_compile.py's compiled step: argv[4] the backend, argv[5] the batch.
CHILD_COMPILE = """
import gc, json, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
import microgrsucc, bench_compile
assert microgrsucc.__file__.startswith(sys.argv[1]), microgrsucc.__file__
xs, ys = bench_compile.data(int(sys.argv[5]))
step = bench_compile.compiled_step(sys.argv[4], xs, ys)
step(); step()
times = []
for _ in range(int(sys.argv[3])):
    step(); gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    step()
    times.append([time.perf_counter() - start, time.process_time() - cpu])
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the checkout to compare against")
    parser.add_argument("new", type=Path, help="the checkout with the change")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="untimed eager steps first (CPython 3.11 specializes a function's bytecode after 8 calls)",
    )
    parser.add_argument("--compile", choices=["python", "numpy"], help="time a compiled step instead")
    parser.add_argument("--batch", type=int, default=100, help="samples per compiled step")
    args = parser.parse_args()
    if args.compile:
        compare_compiled(args)
        return
    benchmarks = str(Path(__file__).resolve().parent)
    found: dict[str, list[list[float]]] = {"base": [], "new": []}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for _ in range(args.rounds):
        for name, tree in (("base", args.base), ("new", args.new)):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(tree.resolve()),
                    benchmarks,
                    str(args.steps),
                    str(args.warmup),
                ],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            found[name].extend(json.loads(out))
    report(args, found, f"eager step: {args.rounds} rounds x {args.steps} steps, interleaved; medians")


def compare_compiled(args: argparse.Namespace) -> None:
    benchmarks = str(Path(__file__).resolve().parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    found: dict[str, list[list[float]]] = {"base": [], "new": []}
    for _ in range(args.rounds):
        for name, tree in (("base", args.base), ("new", args.new)):
            command = [sys.executable, "-c", CHILD_COMPILE, str(tree.resolve()), benchmarks, str(args.steps)]
            command += [args.compile, str(args.batch)]
            out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
            found[name].extend(json.loads(out))
    report(
        args,
        found,
        f"compile {args.compile}, batch {args.batch}: {args.rounds} rounds x {args.steps} steps, interleaved",
    )


def report(args: argparse.Namespace, found: dict[str, list[list[float]]], title: str) -> None:
    """Medians of wall and CPU time per checkout, and their ratios; the load average around them."""
    wall = {k: statistics.median(t[0] for t in v) for k, v in found.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in found.items()}
    print(f"{title}; load average {os.getloadavg()[0]:.1f} (1 min) at the end")
    for name, tree in (("base", args.base), ("new", args.new)):
        print(f"{name} {tree}: median {wall[name] * 1e3:.2f} ms wall, {cpu[name] * 1e3:.2f} ms CPU")
    print(f"new / base = {wall['new'] / wall['base']:.3f} wall, {cpu['new'] / cpu['base']:.3f} CPU")


if __name__ == "__main__":
    main()
