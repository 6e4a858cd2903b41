"""step.backward() where p.grad is already a Value (left by backward(create_graph=True)):
what eager mode's backward() leaves in p.grad vs the compiled step, each backend; plain Values
and FlatParameter views."""
import microgrsucc as mg


def setup(flat):
    w = mg.Value(2.0)
    if flat:
        mg.FlatParameter([w])
    (w * w * w).backward(create_graph=True)  # w.grad = 3 w^2 = 12, a Value with a graph
    return w


loss = lambda x: w * x
for flat in (False, True):
    w = setup(flat)
    (loss(5.0)).backward()
    want = w.grad
    for backend in ("python", "numpy", "jax"):
        w = setup(flat)
        mg.compile(loss, [w], backend=backend).backward([(5.0,)])
        got = w.grad
        same = type(got) is type(want) and float(getattr(got, "data", got)) == float(getattr(want, "data", want))
        print(("PASS" if same else "FAIL") + f" flat={flat} [{backend}]: {got!r} vs eager {want!r}")
