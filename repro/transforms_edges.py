"""Transforms at their edges vs torch.func / JAX conventions (float64)."""
import torch
import microgrsucc as mg

torch.set_default_dtype(torch.float64)
fails = 0


def check(name, got, want):
    global fails
    ok = got == want or (isinstance(got, (tuple, list)) and list(map(float, got)) == list(map(float, want)))
    print(("PASS " if ok else "FAIL ") + f"{name}: got {got!r}, want {want!r}")
    fails += not ok


f = lambda x, y: x * x * y
tx, ty = torch.tensor(3.0), torch.tensor(5.0)
check("grad unused arg", mg.grad(lambda x, y: x * 2, argnums=1)(3.0, 5.0), 0.0)
check("grad argnums=(1,0)", mg.grad(f, argnums=(1, 0))(3.0, 5.0),
      tuple(t.item() for t in reversed(torch.func.grad(f, argnums=(0, 1))(tx, ty))))
try:
    r = mg.grad(f, argnums=-1)(3.0, 5.0)
    check("grad argnums=-1 (jax allows)", r, 9.0)
except Exception as e:
    print("INFO argnums=-1:", type(e).__name__, e)
try:
    r = mg.grad(f, argnums=(0, 0))(3.0, 5.0)
    print("INFO argnums=(0,0):", r)
except Exception as e:
    print("INFO argnums=(0,0):", type(e).__name__, e)
w = mg.Value(3.0)
check("same Value passed twice", mg.grad(f, argnums=(0, 1))(w, w), (30.0, 9.0))  # partials, not total
check("constant function", mg.grad(lambda x: 2)(1.0), 0.0)
check("hessian unused", mg.hessian(lambda x, y: x ** 3)(2.0, 1.0), [[12.0, 0.0], [0.0, 0.0]])
check("jvp ints", mg.jvp(lambda x, y: x * y, (3, 4), (1, 0)), (12.0, 4.0))
check("grad int arg", mg.grad(lambda x: x ** 2)(3), 6.0)
check("value_and_grad kwargs", mg.value_and_grad(lambda x, *, k: x * k)(2.0, k=3.0), (6.0, 3.0))
h = torch.autograd.functional.hessian(lambda a, b: torch.atan2(a, b) * a, (tx, ty))
check("hessian atan2", [[float(v) for v in r] for r in mg.hessian(lambda a, b: mg.atan2(a, b) * a)(3.0, 5.0)],
      [[h[i][j].item() for j in range(2)] for i in range(2)])
xs = mg.Value(2.0)
y = xs * xs
g = mg.gradients(y, [xs, xs])
check("gradients same input twice", g, [4.0, 4.0])
print("PASS" if not fails else f"FAIL ({fails})")
