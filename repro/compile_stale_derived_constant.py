"""A number read from a Value computed from a parameter inside a compiled loss, as w moves.

Found: the retrace guard watched reads of a parameter's own .data only, so (w * 2).data,
(w * 2).detach(), float(w * 2) or an op on w * 2 under no_grad() became a constant written
once: after w moved from 0.5 to 1.5 the compiled loss was 7.5 where eager mode gives 13.5
(13.5 where eager gives 31.5 for the no_grad case). Prints PASS, or FAIL lines."""

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg
from microgrsucc import Value

warnings.simplefilter("ignore")  # float() of a Value warns; that is not what is tested
w = Value(0.5)


def times_3_without_grad(c):
    with mg.no_grad():
        return c * 3.0


fails = 0
for name, constant in [
    ("c.data", lambda c: c.data),
    ("c.detach()", lambda c: c.detach()),
    ("float(c)", float),
    ("no_grad op on c", times_3_without_grad),
]:

    def loss(x, constant=constant):
        return constant(w * 2.0) * x + w * x

    for backend in ("python", "numpy"):
        w.data, w.grad = 0.5, None
        step = mg.compile(loss, [w], backend=backend)
        step.backward([(3.0,)])
        w.data, w.grad = 1.5, None
        got = (step.backward([(3.0,)]), w.grad)
        w.grad = None
        eager = loss(3.0)
        eager.backward()
        if got != (eager.data, w.grad):
            fails += 1
            print("FAIL", name, backend, "compiled", got, "eager", (eager.data, w.grad))
print("PASS" if not fails else f"FAIL ({fails})")
