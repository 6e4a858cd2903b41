"""Strategies produce what their docstrings claim: op_arguments inside the op's domain (no error),
away from kinks and edges (central differences can judge: differences_agree), moderate values;
graphs() with valid inputs (evaluating them raises nothing)."""
from hypothesis import given, settings, HealthCheck, strategies as st
import microgrsucc as mg
from microgrsucc import ops
from microgrsucc.testing import differences_agree
from microgrsucc.testing.strategies import op_arguments, graphs, reals, values

bad = {}
for name, op in ops.PRIMITIVES.items():
    @settings(max_examples=150, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(op_arguments(name))
    def t(args):
        try:
            op.forward(*args)
        except Exception as e:  # noqa: BLE001
            bad.setdefault(name, f"raised {type(e).__name__} at {args}")
            return
        if not differences_agree(op.forward, list(args), -1):
            bad.setdefault(name, f"differences cannot judge at {args}")
    t()
for name, why in bad.items():
    print(f"FAIL op_arguments({name!r}): {why}")


@settings(max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(graphs())
def g(f):
    try:
        f(*f.inputs).backward()
    except Exception as e:  # noqa: BLE001
        bad.setdefault("graphs", f"{f!r} at {f.inputs}: {type(e).__name__}: {e}")
g()


@given(reals(-2, 3), values(-1, 1))
def r(x, v):
    assert -2 <= x <= 3 and -1 <= v.data <= 1 and x == x
r()
print("PASS" if not bad else f"FAIL ({len(bad)})" + (" " + bad.get("graphs", "")))
