"""Shared helper: eager mode as the oracle for compile."""
import math
import microgrsucc as mg

BACKENDS = ("python", "numpy", "jax")


def eager(loss, params, samples, reduction="mean"):
    for p in params:
        p.grad = None
    losses = [loss(*[float(a) for a in s]) for s in samples]
    losses = [l if isinstance(l, mg.Value) else mg.Value(float(l)) for l in losses]
    total = sum(losses[1:], losses[0]) if losses else mg.Value(0.0)
    if reduction == "mean":
        total = total / len(losses)
    total.backward()
    out = total.data, [p.grad for p in params]
    for p in params:
        p.grad = None
    return out


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def check(name, loss, params, samples, reduction="mean", backends=BACKENDS, compiled_params=None):
    try:
        want = eager(loss, params, samples, reduction)
    except Exception as e:  # noqa: BLE001
        want = type(e)
    ok = True
    for b in backends:
        for p in params:
            p.grad = None
        try:
            step = mg.compile(loss, compiled_params if compiled_params is not None else params, backend=b)
            total = step.backward(samples, reduction=reduction)
            got = total, [p.grad for p in params]
        except Exception as e:  # noqa: BLE001
            if want is not type(e):
                print(f"FAIL {name} [{b}]: raised {type(e).__name__}: {e}"[:400])
                ok = False
            continue
        if isinstance(want, type):
            print(f"FAIL {name} [{b}]: returned {total}, eager raised {want.__name__}")
            ok = False
            continue
        if not close(got[0], want[0]) or not all(close(x, y) for x, y in zip(got[1], want[1])):
            print(f"FAIL {name} [{b}]: got {got[0]!r} {got[1][:6]!r}, eager {want[0]!r} {want[1][:6]!r}")
            ok = False
        for p in params:
            p.grad = None
    if ok:
        print(f"PASS {name}")
    return ok
