"""The retrace guard (a loss branching on a parameter's .data) when the parameters are views of
a FlatParameter stepped by a flat optimizer (arrays written in place) or by flat.data -= ...;
eager mode as oracle at each step."""
import sys; sys.path.insert(0, "repro")
import microgrsucc as mg
from microgrsucc.optim import SGD
from _oracle import eager, close

ok = True
for backend in ("python", "numpy", "jax"):
    for how in ("optimizer", "array"):
        w, b = mg.Value(0.3), mg.Value(0.1)
        flat = mg.FlatParameter([w, b])
        loss = lambda x: (w * x + b) if w.data > 0 else (w * x * x - b)
        step = mg.compile(loss, flat, backend=backend)
        opt = SGD(flat, lr=0.25)
        for k in range(6):
            want = eager(loss, [w, b], [(1.0,), (2.0,)])
            flat.zero_grad()
            got = step.backward([(1.0,), (2.0,)])
            grads = [w.grad, b.grad]
            if not (close(got, want[0]) and all(close(x, y) for x, y in zip(grads, want[1]))):
                print(f"FAIL {backend} {how} step {k} w={w.data}: {got} {grads} vs {want}")
                ok = False
            if how == "optimizer":
                opt.step()
            else:
                flat.data -= 0.25 * flat.grad
print("PASS" if ok else "FAIL")
