"""Per-Value and FlatParameter optimizers vs torch.optim float64 over many random steps, some
gradients None (the parameter not reached that step), zero_grad both ways."""
import itertools
import numpy as np
import torch
import microgrsucc as mg
from microgrsucc import optim

torch.set_default_dtype(torch.float64)
configs = []
for mom, damp, nest, wd, mx in itertools.product((0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.1), (False, True)):
    if nest and (mom == 0 or damp != 0):
        continue
    configs.append(("SGD", dict(lr=0.05, momentum=mom, dampening=damp, nesterov=nest, weight_decay=wd, maximize=mx)))
for cls, ams, wd, mx, b1 in itertools.product(("Adam", "AdamW"), (False, True), (0.0, 0.1), (False, True), (0.9, 0.0)):
    configs.append((cls, dict(lr=0.01, betas=(b1, 0.99), eps=1e-8, weight_decay=wd, amsgrad=ams, maximize=mx)))

fails = 0
for name, kw in configs:
    for set_to_none in (True, False):
        rng = np.random.default_rng(0)
        x0 = rng.normal(size=6)
        tp = [torch.tensor(v, requires_grad=True) for v in x0]
        topt = getattr(torch.optim, name)(tp, **kw)
        vp = [mg.Value(float(v)) for v in x0]
        vopt = getattr(optim, name)(vp, **kw)
        fp = [mg.Value(float(v)) for v in x0]
        flat = mg.FlatParameter(fp)
        fopt = getattr(optim, name)(flat, **kw)
        for step in range(40):
            topt.zero_grad(set_to_none=set_to_none)
            vopt.zero_grad(set_to_none=set_to_none)
            fopt.zero_grad(set_to_none=set_to_none)
            reached = rng.random(6) < 0.6
            coef = rng.normal(size=6)
            if reached.any():
                tl = sum(float(c) * (p ** 2) for c, p, r in zip(coef, tp, reached) if r)
                tl.backward()
                for ps in (vp, fp):
                    l = sum((float(c) * (p ** 2) for c, p, r in zip(coef, ps, reached) if r), mg.Value(0.0))
                    l.backward()
            topt.step(); vopt.step(); fopt.step()
        want = np.array([p.item() for p in tp])
        for label, ps in (("values", vp), ("flat", fp)):
            got = np.array([p.data for p in ps])
            if not np.allclose(got, want, rtol=1e-12, atol=1e-14):
                fails += 1
                print(f"FAIL {name} {kw} set_to_none={set_to_none} [{label}]: {got} vs torch {want}")
print("PASS" if not fails else f"FAIL ({fails})")
