"""Known differences from eager mode (documented in docs/compile.md): the numpy and jax backends' matrix
product gives +0.0 for a bias-free dot whose terms are all -0.0 (eager: -0.0), which atan2 turns
into +pi against -pi; the jax backend computes with subnormals flushed to zero (XLA's CPU mode),
so log10(5e-324) is -inf and the slope 1/x at 1e308 is 0."""
import microgrsucc as mg

w, v = mg.Value(1.0), mg.Value(1.0)
minus_one = mg.Value(-1.0)
cases = [
    ("atan2(w*x + v*y, -1) at (-0.0, -0.0)", lambda x, y: mg.atan2(w * x + v * y, minus_one), (-0.0, -0.0), ("numpy", "jax")),
    ("log10(w*x) at 5e-324", lambda x, y: (w * x).log10() + v * y, (5e-324, 1.0), ("jax",)),
    ("log(w*x) at 1e308 (slope 1e-308 * x)", lambda x, y: (w * x).log() + v * y, (1e308, 1.0), ("jax",)),
]
for name, loss, sample, differing in cases:
    w.grad = v.grad = None
    out = loss(*sample)
    out.backward()
    want = (out.data, w.grad)
    for backend in ("python", "numpy", "jax"):
        w.grad = v.grad = None
        got = (mg.compile(loss, [w, v], backend=backend).backward([sample]), w.grad)
        same = all(a == b or (a != a and b != b) for a, b in zip(got, want))
        tag = "PASS" if same else ("KNOWN" if backend in differing else "FAIL")
        print(f"{tag} {name} [{backend}]: {got} vs eager {want}")
