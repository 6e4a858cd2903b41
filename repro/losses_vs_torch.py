"""Every loss of microgrsucc.losses against torch.nn.functional float64 at edge values.

Value and gradient at 0, -0.0, +-1, +-1e3, +-1e300 (where no op overflows), inf and nan,
for both reductions. An OverflowError is the documented difference (docs/pytorch.md).
Prints PASS or FAIL lines."""

import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy

import torch
import torch.nn.functional as F

import microgrsucc as mg
from microgrsucc import losses as L

torch.set_default_dtype(torch.float64)
EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e3, -1e3, 1e300, -1e300, math.inf, -math.inf, math.nan]


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


fails = 0


def check(name, ours_fn, torch_fn, xs, extra=()):
    global fails
    vs = [mg.Value(x) for x in xs]
    ts = torch.tensor(xs, requires_grad=True)
    try:
        out = ours_fn(vs)
        out.backward()
    except OverflowError:
        return
    except ValueError as err:
        try:
            torch_fn(ts)
        except Exception:
            return
        print("FAIL", name, xs, extra, "ours raised", err)
        fails += 1
        return
    tout = torch_fn(ts)
    tout.backward()
    if name.startswith(("l1", "smooth_l1 b0")):  # documented: abs'(NaN) is NaN, torch's sign(NaN) 0
        torch_grads = [g if not math.isnan(x - t) else math.nan for g, x, t in zip(ts.grad.tolist(), xs, extra[0])]
        ts.grad = torch.tensor(torch_grads)
    ok = same(out.data, tout.item()) and all(same(v.grad if v.grad is not None else 0.0, g) for v, g in zip(vs, ts.grad.tolist()))
    if not ok:
        fails += 1
        print("FAIL", name, xs, extra, "ours", out.data, [v.grad for v in vs], "torch", tout.item(), ts.grad.tolist())


rng = random.Random(0)
for red in ("mean", "sum"):
    for _ in range(400):
        n = rng.randint(1, 3)
        xs = [rng.choice(EDGES + [rng.uniform(-3, 3)]) for _ in range(n)]
        ts = [rng.choice(EDGES + [rng.uniform(-3, 3)]) for _ in range(n)]
        tt = torch.tensor(ts)
        for name, ours, theirs in [
            ("mse", lambda v: L.mse_loss(v, ts, red), lambda t: F.mse_loss(t, tt, reduction=red)),
            ("l1", lambda v: L.l1_loss(v, ts, red), lambda t: F.l1_loss(t, tt, reduction=red)),
            ("smooth_l1", lambda v: L.smooth_l1_loss(v, ts, red, beta=0.5), lambda t: F.smooth_l1_loss(t, tt, reduction=red, beta=0.5)),
            ("smooth_l1 b0", lambda v: L.smooth_l1_loss(v, ts, red, beta=0.0), lambda t: F.smooth_l1_loss(t, tt, reduction=red, beta=0.0)),
            ("huber", lambda v: L.huber_loss(v, ts, red, delta=2.0), lambda t: F.huber_loss(t, tt, reduction=red, delta=2.0)),
        ]:
            check(name, ours, theirs, xs, (ts, red))
        p = [rng.choice([0.0, 1.0, 0.5, 1e-300, 1 - 1e-16, rng.random()]) for _ in range(n)]
        pt = torch.tensor(p)
        check("bce_logits", lambda v: L.binary_cross_entropy_with_logits(v, p, red),
              lambda t: F.binary_cross_entropy_with_logits(t, pt, reduction=red), xs, (p, red))
        probs = [rng.choice([0.0, 1.0, 1e-13, 1 - 1e-13, 0.5, rng.random()]) for _ in range(n)]
        check("bce", lambda v: L.binary_cross_entropy(v, p, red),
              lambda t: F.binary_cross_entropy(t, pt, reduction=red), probs, (p, red))
        c = rng.randint(0, n - 1)
        check("cross_entropy", lambda v: L.cross_entropy([v], [c], red),
              lambda t: F.cross_entropy(t[None], torch.tensor([c]), reduction=red), xs, (c, red))
        check("nll", lambda v: L.nll_loss([v], [c], red),
              lambda t: F.nll_loss(t[None], torch.tensor([c]), reduction=red), xs, (c, red))
    for kred in ("mean", "sum", "batchmean"):
        for _ in range(200):
            n = rng.randint(1, 3)
            xs = [rng.choice(EDGES + [rng.uniform(-3, 3)]) for _ in range(n)]
            tg = [rng.choice([0.0, -0.0, 1.0, 0.3, -0.5, math.inf, math.nan, rng.random()]) for _ in range(n)]
            for lt in (False, True):
                tgt = torch.tensor(tg)
                check("kl_div", lambda v: L.kl_div(v, tg, kred, log_target=lt),
                      lambda t: F.kl_div(t, tgt, reduction=kred, log_target=lt), xs, (tg, kred, lt))
print("PASS" if not fails else f"FAIL ({fails})")
