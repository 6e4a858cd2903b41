"""step(*sample) (the value alone, generated python) vs eager loss(*sample).data for every op of
the table at edge points: the same number (NaN included, sign of zero included) or the same error."""
import math
import operator
import microgrsucc as mg
from microgrsucc import ops

EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 710.0, -745.0, 1e308, 5e-324, float("nan"), float("inf"), float("-inf")]
BIN = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow}
w = [mg.Value(1.0), mg.Value(1.0), mg.Value(1.0)]


def loss_of(name, arity):
    if name in BIN:
        return lambda x, y: BIN[name](w[0] * x, w[1] * y)
    if name == "clamp":
        return lambda x: (w[0] * x).clamp(min=-0.5, max=0.75)
    if name == "clamp_min":
        return lambda x, y: (w[0] * x).clamp(min=w[1] * y)
    if name == "clamp_max":
        return lambda x, y: (w[0] * x).clamp(max=w[1] * y)
    if name == "clamp_min_max":
        return lambda x, y, z: (w[0] * x).clamp(min=w[1] * y, max=w[2] * z)
    f = getattr(mg, name)
    return lambda *xs: f(*[w[i] * xs[i] for i in range(arity)])


def outcome(fn):
    try:
        v = fn()
        return ("ok", math.copysign(1.0, v) if v == 0 else None, v)
    except Exception as e:  # noqa: BLE001
        return ("err", type(e).__name__)


fails = 0
for name, op in ops.PRIMITIVES.items():
    loss = loss_of(name, op.arity)
    step = mg.compile(loss, w)
    import itertools
    for point in itertools.product(EDGES, repeat=op.arity) if op.arity < 3 else itertools.product(EDGES[:6], repeat=3):
        want = outcome(lambda: loss(*point).data)
        got = outcome(lambda: step(*point))
        same = want[:2] == got[:2] and (want[0] == "err" or want[2] == got[2] or (want[2] != want[2] and got[2] != got[2]))
        if not same:
            fails += 1
            if fails < 15:
                print(f"FAIL {name}{point}: eager {want} compiled {got}")
print("PASS" if not fails else f"FAIL ({fails})")
