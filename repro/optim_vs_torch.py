"""SGD, Adam and AdamW (list and FlatParameter) against torch.optim float64 over many random steps.

Every option at random, gradients at random (some None, some 0, some huge, some a Value from
create_graph), lr changed between steps. Found: a learning rate set to "0.1" after
construction stepped as 0.1 (torch raises TypeError). Prints PASS, or FAIL lines."""

import math
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg
from microgrsucc import optim

torch.set_default_dtype(torch.float64)
fails = 0


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-12 * max(1.0, abs(b))


rng = random.Random(1)
for _ in range(300):
    n = rng.randint(1, 4)
    start = [rng.uniform(-2, 2) for _ in range(n)]
    kind = rng.choice(["SGD", "Adam", "AdamW"])
    if kind == "SGD":
        momentum = rng.choice([0.0, 0.9, 0.5])
        nesterov = momentum > 0 and rng.random() < 0.5
        kw = {
            "lr": rng.choice([0.1, 0.01, 0.0]),
            "momentum": momentum,
            "dampening": 0.0 if nesterov else rng.choice([0.0, 0.3]),
            "weight_decay": rng.choice([0.0, 0.1]),
            "nesterov": nesterov,
            "maximize": rng.random() < 0.3,
        }
    else:
        kw = {
            "lr": rng.choice([0.1, 0.01]),
            "betas": rng.choice([(0.9, 0.999), (0.0, 0.5), (0.5, 0.0)]),
            "eps": rng.choice([1e-8, 1e-3]),
            "weight_decay": rng.choice([0.0, 0.1]),
            "amsgrad": rng.random() < 0.5,
            "maximize": rng.random() < 0.3,
        }
    flat = rng.random() < 0.4
    values = [mg.Value(x) for x in start]
    ours = getattr(optim, kind)(mg.FlatParameter(values) if flat else values, **kw)
    tensors = [torch.tensor(x, requires_grad=True) for x in start]
    theirs = getattr(torch.optim, kind)(tensors, foreach=False, **kw)
    for step in range(rng.randint(1, 12)):
        ours.zero_grad()
        theirs.zero_grad()
        for v, t in zip(values, tensors, strict=True):
            g = rng.choice([None, 0.0, -0.0, 1.0, -3.0, rng.gauss(0, 1), 1e10, -1e-10])
            if g is None:
                continue
            (v * g).backward(create_graph=rng.random() < 0.2)
            (t * g).backward()
        if rng.random() < 0.2:
            ours.lr = theirs.param_groups[0]["lr"] = rng.choice([0.05, 0.2])
        ours.step()
        theirs.step()
        got = [v.data for v in values]
        want = [t.item() for t in tensors]
        if not all(map(close, got, want)):
            fails += 1
            print("FAIL", kind, kw, "flat" if flat else "list", "step", step, got, want)
            break
# A learning rate set to a string after construction: torch's step raises TypeError; ours
# stepped with float("0.1").
for kind in ("SGD", "Adam"):
    v = mg.Value(1.0)
    opt = getattr(optim, kind)([v], lr=0.5)
    (v * v).backward()
    opt.lr = "0.1"
    try:
        opt.step()
        fails += 1
        print("FAIL", kind, "stepped with lr '0.1':", v.data)
    except TypeError:
        pass
print("PASS" if not fails else f"FAIL ({fails})")
