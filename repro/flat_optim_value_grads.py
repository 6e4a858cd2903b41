"""Flat optimizers when some gradients are Values (left by backward(create_graph=True)) vs the
per-Value optimizers on the same numbers."""
import microgrsucc as mg
from microgrsucc import optim

fails = 0
for name, kw in (("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)), ("AdamW", dict(lr=0.1, amsgrad=True))):
    a = [mg.Value(v) for v in (0.5, -1.0, 2.0)]
    b = [mg.Value(v) for v in (0.5, -1.0, 2.0)]
    flat = mg.FlatParameter(b)
    oa, ob = getattr(optim, name)(a, **kw), getattr(optim, name)(flat, **kw)
    for k in range(5):
        for ps, o in ((a, oa), (b, ob)):
            o.zero_grad()
            (ps[0] * ps[0] * ps[1]).backward(create_graph=(k % 2 == 0))
            o.step()
    got, want = [p.data for p in b], [p.data for p in a]
    ok = all(abs(x - y) <= 1e-12 * max(1, abs(y)) for x, y in zip(got, want))
    fails += not ok
    print(("PASS" if ok else "FAIL") + f" {name}: flat {got} vs values {want}")
print("PASS" if not fails else f"FAIL ({fails})")
