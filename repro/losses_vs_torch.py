"""Every loss of microgrsucc.losses against torch.nn.functional float64 at edge values.

Value and gradient at 0, -0.0, +-1, +-1e3, +-1e300 (where no op overflows), inf and nan,
for each reduction. An OverflowError is the documented difference (docs/pytorch.md), and so
is l1_loss's NaN gradient where input - target is NaN. Prints PASS, or FAIL lines.
Found: cross_entropy at large logits (0 instead of log 2), binary_cross_entropy near 0."""

import math
import random
import sys
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
from microgrsucc import Value
from microgrsucc import losses as L

torch.set_default_dtype(torch.float64)
EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e3, -1e3, 1e300, -1e300, math.inf, -math.inf, math.nan]


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


fails = 0


def check(name, ours, theirs, xs, targets=None):
    global fails
    vs = [Value(x) for x in xs]
    ts = torch.tensor(xs, requires_grad=True)
    try:
        out = ours(vs)
        out.backward()
    except OverflowError:
        return
    tout = theirs(ts)
    tout.backward()
    want = ts.grad.tolist()
    if name in ("l1", "smooth_l1 b0"):  # documented: abs'(NaN) is NaN, torch's sign(NaN) is 0
        want = [math.nan if math.isnan(x - t) else g for g, x, t in zip(want, xs, targets, strict=True)]
    got = [0.0 if v.grad is None else v.grad for v in vs]
    if not (same(out.data, tout.item()) and all(map(same, got, want))):
        fails += 1
        print("FAIL", name, xs, targets, "ours", out.data, got, "torch", tout.item(), want)


def pointwise(ours, theirs, red, ts, **kw):
    return partial(ours, target=ts, reduction=red, **kw), partial(
        theirs, target=torch.tensor(ts), reduction=red, **kw
    )


rng = random.Random(0)
for red in ("mean", "sum"):
    for _ in range(400):
        n = rng.randint(1, 3)
        xs = [rng.choice([*EDGES, rng.uniform(-3, 3)]) for _ in range(n)]
        ts = [rng.choice([*EDGES, rng.uniform(-3, 3)]) for _ in range(n)]
        for name, ours, theirs, kw in [
            ("mse", L.mse_loss, F.mse_loss, {}),
            ("l1", L.l1_loss, F.l1_loss, {}),
            ("smooth_l1", L.smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.5}),
            ("smooth_l1 b0", L.smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.0}),
            ("huber", L.huber_loss, F.huber_loss, {"delta": 2.0}),
        ]:
            check(name, *pointwise(ours, theirs, red, ts, **kw), xs, ts)
        p = [rng.choice([0.0, 1.0, 0.5, 1e-300, 1 - 1e-16, rng.random()]) for _ in range(n)]
        f = pointwise(L.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, red, p)
        check("bce_logits", *f, xs, p)
        probs = [rng.choice([0.0, 1.0, 1e-13, 1e-17, 1 - 1e-13, 0.5, rng.random()]) for _ in range(n)]
        check("bce", *pointwise(L.binary_cross_entropy, F.binary_cross_entropy, red, p), probs, p)
        c = rng.randint(0, n - 1)
        check(
            "cross_entropy",
            partial(lambda v, c, red: L.cross_entropy([v], [c], red), c=c, red=red),
            partial(
                lambda t, c, red: F.cross_entropy(t[None], torch.tensor([c]), reduction=red), c=c, red=red
            ),
            xs,
        )
        check(
            "nll",
            partial(lambda v, c, red: L.nll_loss([v], [c], red), c=c, red=red),
            partial(lambda t, c, red: F.nll_loss(t[None], torch.tensor([c]), reduction=red), c=c, red=red),
            xs,
        )
for kred in ("sum", "batchmean"):
    for _ in range(200):
        n = rng.randint(1, 3)
        xs = [rng.choice([*EDGES, rng.uniform(-3, 3)]) for _ in range(n)]
        tg = [rng.choice([0.0, -0.0, 1.0, 0.3, -0.5, math.inf, math.nan, rng.random()]) for _ in range(n)]
        for lt in (False, True):
            check(
                "kl_div",
                partial(L.kl_div, target=tg, reduction=kred, log_target=lt),
                partial(F.kl_div, target=torch.tensor(tg), reduction=kred, log_target=lt),
                xs,
            )
print("PASS" if not fails else f"FAIL ({fails})")
