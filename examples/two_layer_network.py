"""The book chapter's two-layer sigmoid network: the engine's gradients beside the hand formulas.

    pip install ".[examples]"
    python examples/two_layer_network.py --out DIR

Builds ``z1 = w1*a0 + b1, a1 = sigmoid(z1), z2 = w2*a1 + b2, a2 = sigmoid(z2),
C = 1/2 (y - a2)**2``, runs ``backward()``, prints each gradient next to the chapter's formula
(A), (B) and the two bias formulas, and writes the graph picture ``two_layer_network.png``,
drawn top to bottom as ``microgrsucc demo`` draws it, into DIR (default: the current folder).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from microgrsucc import render
from microgrsucc.cli.chapter import DEFAULTS, compare


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the picture (default: .)")
    args = parser.parse_args(argv)

    net, rows = compare(DEFAULTS)
    print("inputs: " + ", ".join(f"{name}={value:g}" for name, value in DEFAULTS.items()))
    print(f"cost C = 1/2 (y - a2)**2 = {net.C.data:.6f}")
    print(f"{'dC/d':6} {'engine':>12} {'formula':>12} {'difference':>11}   formula")
    worst = 0.0
    for row in rows:
        difference = abs(row.engine - row.book)
        worst = max(worst, difference)
        text = f"{row.formula:<4} {row.product}"
        print(f"{row.name:6} {row.engine:12.8f} {row.book:12.8f} {difference:11.1e}   {text}")
    print(f"largest difference: {worst:.1e}")

    args.out.mkdir(parents=True, exist_ok=True)
    print("wrote", render(net.C, args.out / "two_layer_network.png", rankdir="TB"))
    return 0 if worst < 1e-12 else 1


if __name__ == "__main__":
    raise SystemExit(main())
