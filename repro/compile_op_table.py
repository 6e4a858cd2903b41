"""compile vs eager for every op of the table with hypothesis-drawn samples including domain
edges (0, -0.0, +-1, nan, inf, huge, tiny): same total and grads, or the same error type."""
import sys; sys.path.insert(0, "repro")
import math
from hypothesis import given, settings, strategies as st, HealthCheck
import microgrsucc as mg
from microgrsucc import ops
from _oracle import close

EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, math.pi / 2, 6.0, -6.0, 3.0, -3.0, 1e-300, 5e-324,
         1e308, -1e308, 710.0, -745.0, 1024.0, float("nan"), float("inf"), float("-inf")]
arg = st.one_of(st.sampled_from(EDGES), st.floats(-5, 5), st.floats(allow_nan=True, allow_infinity=True))
fails = {}


def call(name, arity, w, xs):
    op = getattr(mg, name, None)
    if name in ("+", "-", "*", "/", "**"):
        import operator
        f = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow}[name]
        return f(w[0] * xs[0], w[1] * xs[1]) if arity == 2 else None
    if name == "clamp":
        return (w[0] * xs[0]).clamp(min=-0.5, max=0.75)
    if name == "clamp_min":
        return (w[0] * xs[0]).clamp(min=w[1] * xs[1])
    if name == "clamp_max":
        return (w[0] * xs[0]).clamp(max=w[1] * xs[1])
    if name == "clamp_min_max":
        return (w[0] * xs[0]).clamp(min=w[1] * xs[1], max=w[2] * xs[2])
    return op(*[w[i] * xs[i] for i in range(arity)])


def run(name, arity, backend, samples):
    w = [mg.Value(1.0), mg.Value(1.0), mg.Value(1.0)]
    loss = lambda *xs: call(name, arity, w, xs)
    try:
        tot = [loss(*s) for s in samples]
        t = tot[0]
        for v in tot[1:]:
            t = t + v
        t.backward()
        want = ("ok", t.data, [p.grad for p in w])
    except Exception as e:  # noqa: BLE001
        want = ("err", type(e).__name__)
    for p in w:
        p.grad = None
    try:
        got = mg.compile(loss, w, backend=backend).backward(samples, reduction="sum")
        got = ("ok", got, [p.grad for p in w])
    except Exception as e:  # noqa: BLE001
        got = ("err", type(e).__name__, str(e)[:200])
    if want[0] != got[0] or (want[0] == "err" and want[1] != got[1]) or (
        want[0] == "ok" and not (close(want[1], got[1], 1e-7) and all(close(a, b, 1e-7) for a, b in zip(want[2], got[2])))
    ):
        fails.setdefault((name, backend), (samples, want, got))


for name, op in ops.PRIMITIVES.items():
    arity = op.arity
    for backend in ("python", "numpy", "jax"):
        @settings(max_examples=int(__import__("os").environ.get("N", 60)) if backend != "jax" else int(__import__("os").environ.get("NJ", 15)), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(st.tuples(*[arg] * arity), min_size=1, max_size=3))
        def t(samples):
            run(name, arity, backend, samples)
        t()
for (name, backend), (s, want, got) in fails.items():
    print(f"FAIL {name} [{backend}]: samples {s}: eager {want} compiled {got}")
print("PASS" if not fails else f"FAIL ({len(fails)})")
