"""Grad modes inside a compiled loss, against eager mode.

Found: no_grad() (or set_grad_enabled(False), or a function decorated with no_grad) around an
op on a per-sample value was ignored by the trace, so the compiled step gave w a gradient that
eager mode does not (w.grad 2.0 against None); an in-place c *= 2.0 under no_grad() doubled
w's gradient, which eager mode does not; and a constant computed from a parameter under
no_grad() was written once, so after the parameter moved the compiled loss was stale (7.5
against eager's 13.5); step.backward() inside no_grad() added no gradient without a word,
where eager mode's backward() raises. Each is now eager's number or an error naming no_grad().
Prints PASS, or FAIL lines."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg
from microgrsucc import Value

fails = 0


def eager(loss, params, samples):
    for p in params:
        p.grad = None
    total = sum((loss(*s) for s in samples[1:]), loss(*samples[0])) / len(samples)
    total.backward()
    return total.data, [p.grad for p in params]


def compiled(loss, params, samples, backend):
    for p in params:
        p.grad = None
    try:
        total = mg.compile(loss, params, backend=backend).backward(samples)
    except TypeError as err:
        return "TypeError" if "no_grad()" in str(err) else f"TypeError: {err}"
    return total, [p.grad for p in params]


def same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    pairs = [(a[0], b[0]), *zip(a[1], b[1], strict=True)]
    return all(x is y or (None not in (x, y) and math.isclose(x, y, rel_tol=1e-12)) for x, y in pairs)


w, b = Value(0.5), Value(-0.25)
samples = [(1.0, 2.0), (-0.5, 3.0), (2.0, -1.0)]


def cut_inside(x, y):
    with mg.no_grad():
        c = w * x
    return (c + b * y) ** 2


def scaled_in_place(x, y):
    c = w * x
    with mg.no_grad():
        c *= 2.0
    return c * b * y


for backend in ("python", "numpy"):
    for name, loss in [("no_grad on a sample", cut_inside), ("in-place *= under no_grad", scaled_in_place)]:
        got = compiled(loss, [w, b], samples, backend)
        if got != "TypeError" and not same(got, eager(loss, [w, b], samples)):
            fails += 1
            print("FAIL", name, backend, "compiled", got, "eager", eager(loss, [w, b], samples))

    def from_parameter(x):
        with mg.no_grad():
            c = w * 2.0
        return c * x + w * x

    w.data = 0.5
    step = mg.compile(from_parameter, [w], backend=backend)
    step.backward([(3.0,)])
    w.data, w.grad = 1.5, None
    got = (step.backward([(3.0,)]), [w.grad])
    want = eager(from_parameter, [w], [(3.0,)])
    if not same(got, want):
        fails += 1
        print("FAIL constant from a parameter under no_grad", backend, "compiled", got, "eager", want)
    w.data = 0.5
# step.backward() inside no_grad(): eager mode's losses built there have no graph, and
# backward() raises; the compiled step returned the total and added no gradient, silently.
w.grad = None
step = mg.compile(lambda x: w * w * x, [w])
try:
    with mg.no_grad():
        step.backward([(1.0,), (2.0,)])
    fails += 1
    print("FAIL step.backward inside no_grad gave no error; w.grad", w.grad)
except RuntimeError:
    pass
print("PASS" if not fails else f"FAIL ({fails})")
