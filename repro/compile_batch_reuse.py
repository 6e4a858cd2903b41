"""One compiled step reused across batch sizes (numpy keeps buffers between calls), and
parameters moving between calls; eager mode as oracle."""
import sys; sys.path.insert(0, "repro")
import numpy as np
import microgrsucc as mg
from microgrsucc.nn import MLP
from _oracle import eager, close

rng = np.random.default_rng(1)
for backend in ("python", "numpy", "jax"):
    model = MLP(2, [5, 1], seed=0)
    params = model.parameters()
    loss = lambda x0, x1, y: (1 - y * model([x0, x1])).relu() + 1e-3 * sum(p * p for p in params)
    step = mg.compile(loss, params, backend=backend)
    ok = True
    sizes = (2049, 5, 2048, 1, 3, 2050, 20000) if backend != "python" else (5, 1, 3, 300)
    for n in sizes:
        s = np.column_stack([rng.normal(size=(n, 2)), np.sign(rng.normal(size=n))])
        want = eager(loss, params, s.tolist())
        for p in params: p.grad = None
        got = step.backward(s)
        grads = [p.grad for p in params]
        if not close(got, want[0]) or not all(close(a, b) for a, b in zip(grads, want[1])):
            bad = max(abs(a - b) for a, b in zip(grads, want[1]))
            print(f"FAIL {backend} n={n}: total {got} vs {want[0]}, max grad diff {bad}")
            ok = False
        for p in params:
            p.data -= 0.1 * (p.grad or 0.0)
            p.grad = None
    print(("PASS " if ok else "FAIL ") + backend)
