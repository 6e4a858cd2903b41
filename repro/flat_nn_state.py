"""nn state_dict / load_state_dict / pickle / deepcopy of a model whose parameters are views of a
FlatParameter: plain floats out, the arrays written in, copies independent."""
import copy, json, pickle
import microgrsucc as mg
from microgrsucc.nn import MLP

fails = 0
m = MLP(2, [3, 1], seed=0)
flat = mg.FlatParameter(m.parameters())
sd = m.state_dict()
types = {type(v) for v in sd.values()}
fails += types != {float}
print(("PASS" if types == {float} else "FAIL") + f" state_dict value types {types}")
json.dumps(sd)
m2 = MLP(2, [3, 1], seed=5)
m.load_state_dict(m2.state_dict())
ok = list(flat.data) == [p.data for p in m2.parameters()]
fails += not ok
print(("PASS" if ok else "FAIL") + " load_state_dict writes the flat array")
m3 = copy.deepcopy(m)
m3.parameters()[0].data = 123.0
ok = m.parameters()[0].data != 123.0 and flat.data[0] != 123.0
fails += not ok
print(("PASS" if ok else "FAIL") + " deepcopy is independent")
m4 = pickle.loads(pickle.dumps(m))
ok = m4.state_dict() == m.state_dict() and m4([0.5, 0.25]).data == m([0.5, 0.25]).data
fails += not ok
print(("PASS" if ok else "FAIL") + " pickle round trip")
# a grad on a view then state_dict / zero_grad via module
m([1.0, 2.0]).backward()
m.zero_grad(set_to_none=False)
ok = all(p.grad in (0.0, None) for p in m.parameters()) and not flat.grad.any()
fails += not ok
print(("PASS" if ok else "FAIL") + " Module.zero_grad(set_to_none=False) on views")
print("PASS" if not fails else f"FAIL ({fails})")
