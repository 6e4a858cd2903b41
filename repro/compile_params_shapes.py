"""compile vs eager: shared parameters, unused parameters, penalty-only, weight-and-bias."""
import sys; sys.path.insert(0, "repro")
import microgrsucc as mg
from _oracle import check

w, b, u, z = (mg.Value(v) for v in (0.7, -0.3, 1.5, 2.0))
check("shared weight", lambda x, y: (w * x + w * y + b).tanh(), [w, b, u, z], [(1.0, 2.0), (-0.5, 3.0)])
check("penalty-only u", lambda x, y: (w * x - y) ** 2 + 0.1 * u * u, [w, u, z], [(1.0, 2.0), (-0.5, 3.0)])
check("weight and bias", lambda x: (w * x + w).relu(), [w], [(1.0,), (-3.0,), (2.0,)])
check("no params used", lambda x: mg.Value(x) * 2, [w, b], [(1.0,), (2.0,)])
check("constant loss", lambda x: w * 0 + 3.0, [w], [(1.0,)])
check("penalty only, sum", lambda x: u.exp() + x, [u, w], [(1.0,), (5.0,)], reduction="sum")
check("param order reversed", lambda x, y: w * x + b * y * b, [b, w], [(1.0, 2.0), (3.0, 4.0)])
