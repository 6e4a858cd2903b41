"""numba's first call in a new process: with an empty cache, for a new loss, and from the cache.

bench_scale.py's step (MLP 2 -> W -> W -> 1, hinge loss plus L2, batch 100) compiled with
``backend="numba"``. Each round makes a new empty ``MICROGRSUCC_CACHE_DIR`` and runs three
fresh processes in it: W=16 (nothing cached: numba's start, the layer helpers, the kernel),
a width not used before (a new loss: the helpers come from the cache) and that width again
(the kernel from the cache). Each prints the CPU time (``time.process_time``) of its first
call, trace and plan included, after the imports; medians over the rounds.

    python benchmarks/numba_first_call.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import bench_scale, numba
width = int(sys.argv[2])
X, Y = bench_scale.data(100)
run = bench_scale.compiled_step("numba", bench_scale.weights(width), X, Y)
begin = time.process_time()
run()
print(time.process_time() - begin)
"""


def first_call(width: int, cache: str) -> float:
    here = Path(__file__).resolve().parent
    env = {**os.environ, "MICROGRSUCC_CACHE_DIR": cache}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(here), str(width)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    rounds = parser.parse_args().rounds
    print(
        f"load average {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs; CPU seconds of the first call"
    )
    times: dict[str, list[float]] = {"empty cache": [], "a new loss": [], "from the cache": []}
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            width = 20 + r  # a loss this run has not compiled
            times["empty cache"].append(first_call(16, cache))
            times["a new loss"].append(first_call(width, cache))
            times["from the cache"].append(first_call(width, cache))
    for case, seconds in times.items():
        shown = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"{case:>15}: median {statistics.median(seconds):.2f} s ({shown})")
    print(f"load average {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
