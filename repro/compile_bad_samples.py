"""compile's boundary: each bad sample gets a clear error naming it; good odd forms agree with eager."""
import numpy as np
import microgrsucc as mg

w = mg.Value(0.5)
loss = lambda x, y: (w * x - y) ** 2
cases = {
    "empty list": [],
    "1-d array": np.array([1.0, 2.0]),
    "3-d array": np.zeros((2, 2, 1)),
    "bool array": np.array([[True, False]]),
    "object array of floats": np.array([[1.0, 2.0]], dtype=object),
    "complex array": np.array([[1.0 + 0j, 2.0]]),
    "ragged": [(1.0, 2.0), (1.0,)],
    "string arg": [(1.0, "2")],
    "None arg": [(1.0, None)],
    "bool arg": [(True, 2.0)],
    "huge int": [(10**400, 1.0)],
    "np.matrix": np.matrix([[1.0, 2.0], [3.0, 4.0]]),
    "zero-width array": np.zeros((3, 0)),
    "dict": {1: 2},
    "scalar": 3.0,
}
for backend in ("python", "numpy", "jax"):
    for name, s in cases.items():
        w.grad = None
        try:
            r = mg.compile(loss, [w], backend=backend).backward(s)
            print(f"{backend:6} {name}: returned {r} grad {w.grad}")
        except Exception as e:  # noqa: BLE001
            print(f"{backend:6} {name}: {type(e).__name__}: {str(e)[:150]}")
