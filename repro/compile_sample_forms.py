"""compile vs eager: samples as lists/tuples/arrays of many dtypes and layouts, batch sizes."""
import sys; sys.path.insert(0, "repro")
import numpy as np
import microgrsucc as mg
from _oracle import check

rng = np.random.default_rng(0)
w = [mg.Value(float(v)) for v in rng.normal(size=4)]
loss = lambda x, y: (w[0] * x + w[1] * y + w[2]).tanh() * w[3] + (x - y) ** 2
base = rng.normal(size=(7, 2))
forms = {
    "list of lists": base.tolist(),
    "tuple of tuples": tuple(map(tuple, base.tolist())),
    "float32 array": base.astype(np.float32),
    "int array": (base * 3).astype(np.int64),
    "uint8 array": (np.abs(base) * 3).astype(np.uint8),
    "fortran order": np.asfortranarray(base),
    "non-contiguous": np.repeat(base, 2, axis=1)[:, ::2],
    "list of 1-d arrays": list(base),
    "list of np.float32 tuples": [tuple(np.float32(v) for v in r) for r in base],
    "int list": [[1, 2], [3, -4]],
    "generator": (tuple(r) for r in base.tolist()),
    "big ints": [[2**60 + 1, 1], [3, 2**53 + 1]],
}
for name, s in forms.items():
    samples_eager = list(s) if not isinstance(s, np.ndarray) else s
    if name == "generator":
        check(name, loss, w, list(map(tuple, base.tolist())))  # oracle with list
        continue
    check(name, loss, w, samples_eager)
for n in (1, 2047, 2048, 2049, 4097):
    check(f"batch {n}", loss, w, rng.normal(size=(n, 2)))
check("nan/inf/-0.0/huge", loss, w, [(float("nan"), 1.0), (float("inf"), 1.0), (-0.0, -0.0), (1e308, -1e308), (1e-320, 5e-324)])
