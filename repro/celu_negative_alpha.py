"""celu with a negative alpha (and at the smallest negative subnormal), against torch float64.

Found: celu's slope branched on the sign of x / alpha, not of x, so with alpha < 0 the
gradient was 1 below 0 and exp(x / alpha) above it (celu(alpha=-1) at 0.7: 0.4966 where torch
gives 1.0; at -1.5: 1.0 where torch gives 4.48); and at x = -5e-324, alpha = 2, x / alpha
rounds to -0.0, so the second derivative was 0 instead of 0.5. Prints PASS, or FAIL lines."""

import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg

fails = 0
for alpha in (-2.0, -1.0, -0.5, 0.5, 2.0):
    for x0 in (-1.5, -0.3, -5e-324, 0.0, 0.7, 3.0):
        t = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        y = torch.nn.functional.celu(t, alpha=alpha)
        (slope,) = torch.autograd.grad(y, t, create_graph=True)
        second = torch.autograd.grad(slope, t)[0].item() if slope.requires_grad else 0.0
        want = (y.item(), slope.item(), second)
        x = mg.Value(x0)
        first = mg.gradients(mg.celu(x, alpha=alpha), x, create_graph=True)
        got = (mg.celu(x0, alpha=alpha).data, first.data, mg.gradients(first, x))
        if not all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300) for a, b in zip(got, want, strict=True)):
            fails += 1
            print("FAIL celu alpha", alpha, "x", x0, "ours", got, "torch", want)
print("PASS" if not fails else f"FAIL ({fails})")
