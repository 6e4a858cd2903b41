"""compile's parameter-only penalty specialisation (an L2 penalty as one dot product) vs eager
mode, in shapes near and beyond what it recognises."""
import sys; sys.path.insert(0, "repro")
import microgrsucc as mg
from microgrsucc.nn import MLP
from _oracle import check

m = MLP(2, [3, 1], seed=0)
P = m.parameters()
base = lambda x, y: (m([x, y]) - y) ** 2
S = [(0.5, -1.0), (2.0, 0.25), (-1.5, 1.0)]
penalties = {
    "c*sum p*p": lambda: 1e-2 * sum(p * p for p in P),
    "sum p**2": lambda: sum(p ** 2 for p in P) * 0.5,
    "sum p**2.0": lambda: sum(p ** 2.0 for p in P),
    "repeated p": lambda: sum(p * p for p in P + P[:3]),
    "(-p)**2": lambda: sum((-p) ** 2 for p in P),
    "p*p*c, c first": lambda: sum(0.3 * p * p for p in P),
    "p*q pairs": lambda: sum(p * q for p, q in zip(P, P[1:])),
    "abs (L1)": lambda: sum(abs(p) for p in P) * 1e-2,
    "-0.0 coefficient": lambda: -0.0 * sum(p * p for p in P),
    "nested sums": lambda: sum(p * p for p in P[:4]) + 2 * sum(p * p for p in P[4:]),
    "sqrt of sum (norm)": lambda: sum(p * p for p in P).sqrt(),
    "p**2 minus": lambda: 1.0 - sum(p ** 2 for p in P),
    "divided": lambda: sum(p * p for p in P) / 7,
    "int coefficient": lambda: 3 * sum(p * p for p in P),
}
for name, pen in penalties.items():
    check(name, lambda x, y, pen=pen: base(x, y) + pen(), P, S)
    check(name + " times x", lambda x, y, pen=pen: base(x, y) + x * pen(), P, S)
    flat = mg.FlatParameter(P)
    check(name + " [flat]", lambda x, y, pen=pen: base(x, y) + pen(), P, S, compiled_params=flat)
    flat.unflatten()

# parameters at the edges of the floats
for value in (float("inf"), float("-inf"), float("nan"), 1e200, -0.0, 5e-324):
    old = P[0].data
    P[0].data = value
    check(f"L2 with P[0] = {value}", lambda x, y: base(x, y) + 1e-2 * sum(p * p for p in P), P, S)
    check(f"relu net with P[0] = {value}", lambda x, y: (1 - y * m([x, y])).relu(), P, S)
    P[0].data = old
