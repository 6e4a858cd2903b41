"""What Python's cyclic garbage collector costs bench_step.py's eager step, per generation.

Counts the collections during the batch-100 training step (build, ``backward()``, drop) and
their CPU time, with ``gc.callbacks``, after a few untimed steps; the collector as Python
starts it. For the share ``collector_paused()`` saves (docs/performance.md).

    python benchmarks/eager_collector.py [--steps 20]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import bench_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    steps = parser.parse_args().steps
    engine = bench_step.engines(with_pytorch=False)[0]
    xs, ys = bench_step.moons()
    loss, params = bench_step.make_loss(engine, xs, ys)

    def step() -> None:
        for p in params:
            engine.clear(p)
        loss().backward()

    counts = [0, 0, 0]
    seconds = [0.0, 0.0, 0.0]
    started = [0.0]

    def timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            counts[info["generation"]] += 1
            seconds[info["generation"]] += time.process_time() - started[0]

    for _ in range(3):
        step()
    gc.callbacks.append(timer)
    begin = time.process_time()
    for _ in range(steps):
        step()
    total = time.process_time() - begin
    gc.callbacks.remove(timer)
    print(f"eager step, batch 100: {total / steps * 1e3:.1f} ms CPU per step over {steps} steps")
    for generation in range(3):
        print(
            f"generation {generation}: {counts[generation] / steps:5.1f} collections per step, "
            f"{seconds[generation] / steps * 1e3:6.2f} ms per step"
        )
    print(f"the collector in all: {sum(seconds) / total:.0%} of the step")


if __name__ == "__main__":
    main()
