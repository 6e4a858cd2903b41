"""A batch of 100,000 samples (numpy chunks of 2,048, jax padding) vs eager mode, both reductions."""
import sys; sys.path.insert(0, "repro")
import numpy as np
import microgrsucc as mg
from _oracle import check

rng = np.random.default_rng(3)
w, b = mg.Value(0.7), mg.Value(-0.2)
S = rng.normal(size=(100_000, 2))
loss = lambda x, y: ((w * x + b).tanh() - y) ** 2 + 1e-3 * (w * w)
for red in ("mean", "sum"):
    check(f"100k {red}", loss, [w, b], S, reduction=red, backends=("numpy", "jax"))
