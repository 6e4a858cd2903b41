"""One optimizer step over a model's parameters: Value by Value, or on a FlatParameter's arrays.

The parameters are those of bench_scale.py's widest MLP, 2 -> 128 -> 128 -> 1 (17,025
Values), each with a gradient. For SGD (plain, and with momentum 0.9) and Adam it times
``step()``:

- ``values``: the optimizer given the list of Values, stepping them one by one;
- ``views``: the same, over the views of a FlatParameter (each ``p.data`` a property);
- ``flat``: the optimizer given the FlatParameter, stepping its arrays (bit for bit the same
  result, tests/test_optim.py);
- ``torch``: ``torch.optim`` over one float64 tensor of as many elements (``foreach=False``),
  if PyTorch is installed.

Every time is CPU time (``time.process_time``). The contenders take turns within each round
(interleaved), each timed over a block of steps of at least ``--block`` seconds; medians
over the rounds, in microseconds per step.

    python benchmarks/bench_optim.py [--rounds 7] [--block 0.2] [--width 128]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from microgrsucc import FlatParameter, Value  # noqa: E402
from microgrsucc.nn import MLP  # noqa: E402
from microgrsucc.optim import SGD, Adam  # noqa: E402

OPTIMIZERS: dict[str, tuple[Any, dict[str, Any]]] = {
    "SGD": (SGD, {"lr": 1e-3}),
    "SGD momentum": (SGD, {"lr": 1e-3, "momentum": 0.9}),
    "Adam": (Adam, {"lr": 1e-3}),
}


def parameters(width: int) -> list[Value]:
    """The MLP's parameters, each with a gradient in [-1, 1]."""
    params = MLP(2, [width, width, 1], seed=0).parameters()
    rng = random.Random(0)
    for p in params:
        p.grad = rng.uniform(-1.0, 1.0)
    return params


def contenders(name: str, width: int) -> dict[str, Callable[[], None]]:
    make, options = OPTIMIZERS[name]
    views = parameters(width)
    FlatParameter(views)
    found = {
        "values": make(parameters(width), **options).step,
        "views": make(views, **options).step,
        "flat": make(FlatParameter(parameters(width)), **options).step,
    }
    try:
        import torch
    except ImportError:
        return found
    torch.set_num_threads(1)
    tensor = torch.tensor([p.data for p in parameters(width)], dtype=torch.float64, requires_grad=True)
    tensor.grad = torch.tensor([p.grad for p in parameters(width)], dtype=torch.float64)
    found["torch"] = getattr(torch.optim, make.__name__)([tensor], **options, foreach=False).step
    return found


def per_step(step: Callable[[], None], block: float) -> float:
    """CPU seconds per step over a block of at least ``block`` seconds."""
    step()
    count, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < block:
        step()
        count += 1
    return elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=float, default=0.2)
    parser.add_argument("--width", type=int, default=128)
    args = parser.parse_args()
    print(f"parameters: {len(parameters(args.width)):,}; load average {os.getloadavg()[0]:.2f}")
    for name in OPTIMIZERS:
        steps = contenders(name, args.width)
        times: dict[str, list[float]] = {key: [] for key in steps}
        for _ in range(args.rounds):
            for key, step in steps.items():
                times[key].append(per_step(step, args.block))
        medians = {key: statistics.median(found) for key, found in times.items()}
        row = ", ".join(
            f"{key} {1e6 * t:,.0f} us ({medians['values'] / t:.3g}x)" for key, t in medians.items()
        )
        print(f"{name}: {row}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
