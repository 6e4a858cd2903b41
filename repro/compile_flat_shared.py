"""compile over FlatParameter: several losses sharing it, a subset of its views, unreached
views (grad stays None), accumulation into existing grads; eager mode as oracle."""
import sys; sys.path.insert(0, "repro")
import numpy as np
import microgrsucc as mg
from _oracle import eager, close

ok = True
for backend in ("python", "numpy", "jax"):
    vals = [mg.Value(v) for v in (0.5, -1.25, 2.0, 0.75, 3.0)]
    flat = mg.FlatParameter(vals)
    a, b, c, d, e = vals
    l1 = lambda x: (a * x + b).tanh()
    l2 = lambda x: (c * x) ** 2 + d * a
    s1 = [(1.0,), (-2.0,), (0.5,)]
    s2 = [(3.0,), (-1.0,)]
    w1 = eager(l1, vals, s1)
    w2 = eager(l2, vals, s2)
    st1 = mg.compile(l1, flat, backend=backend)
    st2 = mg.compile(l2, [c, d, a], backend=backend)  # subset, out of order
    st3 = mg.compile(l2, vals, backend=backend)
    flat.zero_grad()
    # pre-existing grads: backward accumulates
    e.grad = 7.0
    t1 = st1.backward(s1)
    t2 = st2.backward(s2)
    want = []
    for k in range(5):
        g = [w1[1][k], w2[1][k]]
        g = [x for x in g if x is not None]
        want.append(sum(g) if g else None)
    want[4] = 7.0
    got = [p.grad for p in vals]
    if not (close(t1, w1[0]) and close(t2, w2[0]) and all(close(x, y) for x, y in zip(got, want))):
        print(f"FAIL {backend}: {got} vs {want}; {t1, t2} vs {w1[0], w2[0]}")
        ok = False
    w3 = eager(l2, vals, s2, "sum")
    flat.zero_grad(set_to_none=True)
    t3 = st3.backward(s2, reduction="sum")
    got = [p.grad for p in vals]
    if not (close(t3, w3[0]) and all(close(x, y) for x, y in zip(got, w3[1]))):
        print(f"FAIL {backend} st3: {got} vs {w3[1]}")
        ok = False
    if list(flat.has_grad) != [g is not None for g in w3[1]]:
        print(f"FAIL {backend} has_grad {flat.has_grad} vs {[g is not None for g in w3[1]]}")
        ok = False
    # a zero_grad(set_to_none=False): grads 0.0 not None, step adds
    flat.zero_grad(set_to_none=False)
    st1.backward(s1)
    got = [p.grad for p in vals]
    want = [g if g is not None else 0.0 for g in w1[1]]
    want[4] = None  # None before zero_grad(set_to_none=False), unreached by l1
    if not all(close(x, y) for x, y in zip(got, want)):
        print(f"FAIL {backend} after zero_grad(set_to_none=False): {got} vs {want}")
        ok = False
    flat.unflatten()
print("PASS" if ok else "FAIL")
