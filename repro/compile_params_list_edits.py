"""compile's promise: the params list passed in, edited in place (appended, replaced, removed),
is picked up at the next call; eager mode as oracle."""
import sys; sys.path.insert(0, "repro")
import microgrsucc as mg
from _oracle import eager, close

fails = 0
for backend in ("python", "numpy", "jax"):
    a, b, c = mg.Value(0.5), mg.Value(-1.0), mg.Value(2.0)
    params = [a, b]
    loss = lambda x: a * x + b * c * x
    step = mg.compile(loss, params, backend=backend)
    S = [(1.0,), (3.0,)]
    for edit in ("none", "append c", "replace b by c", "remove a", "clear+extend"):
        if edit == "append c":
            params.append(c)
        elif edit == "replace b by c":
            params[:] = [a, c]
        elif edit == "remove a":
            params.remove(a)
        elif edit == "clear+extend":
            params.clear(); params.extend([c, b, a])
        want = eager(loss, [a, b, c], S)
        for p in (a, b, c):
            p.grad = None
        total = step.backward(S)
        got = [p.grad for p in (a, b, c)]
        exp = [g if p in params else None for p, g in zip((a, b, c), want[1])]
        ok = close(total, want[0]) and all(close(x, y) for x, y in zip(got, exp))
        fails += not ok
        print(("PASS" if ok else "FAIL") + f" [{backend}] {edit}: {got} vs {exp}")
print("PASS" if not fails else f"FAIL ({fails})")
