"""Eager mode's step in instructions per graph node, by phase, under valgrind's callgrind.

Instruction counts do not move with the machine's load, so they tell a change of a few
percent from noise where timings on a shared machine cannot. bench_step.py's loss
(``make_loss``: MLP 2 -> 16 -> 16 -> 1, hinge loss plus L2) over a batch of B half-moons
points, collector off, after 10 warm steps (CPython 3.11 specializes a function's bytecode
after 8 calls); callgrind counts only the one step that follows, split by dumps into build,
``backward()`` and drop, with its cache simulation (D1 and last-level misses per node).
Each checkout and batch runs in its own process; the counts repeat within about 0.01%.
What a dump itself costs (a subprocess) is counted once and subtracted from each phase: exact
enough for instructions, but its cache misses vary by about 2,500, so misses per node mean
something from about 10^5 nodes on (below that they can even come out negative).

    python benchmarks/eager_instructions.py [--base /tmp/base] [B ...]     (default B: 20 100)

Needs ``valgrind`` (``callgrind_control`` with it); a batch of 100 takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# Run in each child under callgrind: argv = tree, benchmarks dir, batch.
CHILD = """
import gc, os, subprocess, sys
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
import microgrsucc, bench_step
from microgrsucc.backward import below
from microgrsucc.datasets import make_moons
assert microgrsucc.__file__.startswith(sys.argv[1]), microgrsucc.__file__
xs, classes = make_moons(int(sys.argv[3]), noise=0.1, seed=0)
engine = bench_step.engines(with_pytorch=False)[0]
loss, params = bench_step.make_loss(engine, xs, [1 if c == 1 else -1 for c in classes])
print(len(below(loss())))
gc.disable()
for _ in range(10):
    for p in params:
        p.grad = None
    loss().backward()
for p in params:
    p.grad = None

def control(*args):
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)

control("-i", "on")
control("-d", "empty")  # what a dump itself costs, subtracted from each phase
total = loss()
control("-d", "build")
total.backward()
control("-d", "backward")
del total
control("-d", "drop")
"""

PHASES = ("build", "backward", "drop")
EVENTS = {"Ir": "instructions", "D1mr": "D1 read misses", "D1mw": "D1 write misses", "DLmr": "LL read misses"}
EVENTS |= {"DLmw": "LL write misses"}


def count(tree: Path, batch: int) -> tuple[int, dict[str, dict[str, int]]]:
    """Nodes of the graph, and per phase the events callgrind counted."""
    here = str(Path(__file__).resolve().parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as out:
        valgrind = ["valgrind", "--tool=callgrind", "--cache-sim=yes", "--instr-atstart=no"]
        valgrind.append(f"--callgrind-out-file={out}/cg")
        child = [sys.executable, "-c", CHILD, str(tree.resolve()), here, str(batch)]
        run = subprocess.run(valgrind + child, check=True, capture_output=True, text=True, env=env)
        phases = {}
        for dump in Path(out).glob("cg.*"):
            text = dump.read_text()
            trigger = re.search(r"^desc: Trigger: dump (\w+)", text, re.M)
            if trigger:
                events = re.search(r"^events: (.*)", text, re.M).group(1).split()  # type: ignore[union-attr]
                summary = re.search(r"^summary: (.*)", text, re.M).group(1).split()  # type: ignore[union-attr]
                phases[trigger.group(1)] = dict(zip(events, map(int, summary), strict=True))
    empty = phases.pop("empty")
    return int(run.stdout.split()[0]), {p: {e: n - empty[e] for e, n in phases[p].items()} for p in PHASES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batches", nargs="*", type=int, default=[20, 100])
    parser.add_argument("--base", type=Path, help="another checkout, counted beside this one")
    args = parser.parse_args()
    trees = [Path(__file__).resolve().parent.parent]
    if args.base:
        trees.insert(0, args.base)
    print("per graph node, one step after 10 warm ones; collector off; LL: the last-level cache")
    print(", ".join(f"{e}: {name}" for e, name in EVENTS.items()))
    print(f"{'tree':<24} {'B':>5} {'nodes':>8} {'phase':<9}" + "".join(f"{e:>8}" for e in EVENTS))
    for batch in args.batches:
        for tree in trees:
            nodes, phases = count(tree, batch)
            step = {e: sum(phases[p][e] for p in PHASES) for e in EVENTS}
            for phase, events in (*phases.items(), ("step", step)):
                cells = "".join(f"{events[e] / nodes:>8.{0 if e == 'Ir' else 2}f}" for e in EVENTS)
                print(f"{str(tree)[-24:]:<24} {batch:>5} {nodes:>8} {phase:<9}" + cells)


if __name__ == "__main__":
    main()
