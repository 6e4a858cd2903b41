"""nn.MLP with every activation vs torch.nn float64 (weights copied over): outputs and
parameter gradients; state_dict round trip through json and pickle; bias=False."""
import json, pickle
import numpy as np
import torch
import microgrsucc as mg
from microgrsucc.nn import MLP, ACTIVATIONS

torch.set_default_dtype(torch.float64)
F = torch.nn.functional
TORCH = {"linear": lambda t: t, "relu": F.relu, "sigmoid": torch.sigmoid, "softplus": F.softplus,
         "leaky_relu": F.leaky_relu, "elu": F.elu, "selu": F.selu, "celu": F.celu, "gelu": F.gelu,
         "silu": F.silu, "mish": F.mish, "softsign": F.softsign, "hardtanh": F.hardtanh, "relu6": F.relu6,
         "hardsigmoid": F.hardsigmoid, "hardswish": F.hardswish, "erf": torch.special.erf,
         "erfc": torch.special.erfc, "exp2": torch.exp2}
fails = 0
rng = np.random.default_rng(0)
for act in ACTIVATIONS:
    tf = TORCH.get(act, getattr(torch, act, None))
    if tf is None:
        print("SKIP", act); continue
    for bias in (True, False):
        m = MLP(3, [4, 4, 2], activation=act, output_activation=act, bias=bias, seed=1)
        layers = []
        for layer in m.layers:
            W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], requires_grad=True)
            b = torch.tensor([n.b.data for n in layer.neurons], requires_grad=True) if bias else None
            layers.append((W, b))
        x = rng.uniform(-0.9, 0.9, size=3)
        if act in ("acosh",):
            x = x + 3
        try:
            out = m(list(x))
        except (ValueError, ZeroDivisionError, OverflowError):
            continue  # outside the op's domain (log of a negative sum): not this probe's subject
        tx = torch.tensor(x)
        for W, b in layers:
            tx = tf(W @ tx + (b if b is not None else 0))
        got = [o.data for o in out]
        want = tx.tolist()
        ok = np.allclose(got, want, rtol=1e-12, equal_nan=True)
        s = out[0] + out[1] * 0.5
        try:
            s.backward()
            (tx[0] + tx[1] * 0.5).backward()
            tg = []
            for W, b in layers:
                for i in range(W.shape[0]):
                    tg += W.grad[i].tolist() + ([b.grad[i].item()] if b is not None else [])
            g = [p.grad if p.grad is not None else 0.0 for p in m.parameters()]
            ok = ok and np.allclose(g, tg, rtol=1e-10, atol=1e-14, equal_nan=True)
        except Exception as e:
            print("ERR", act, e); ok = False
        sd = m.state_dict()
        m2 = MLP(3, [4, 4, 2], activation=act, output_activation=act, bias=bias, seed=2)
        m2.load_state_dict(json.loads(json.dumps(sd)))
        m3 = pickle.loads(pickle.dumps(m))
        ok = ok and m2.state_dict() == sd and m3.state_dict() == sd and [o.data for o in m3(list(x))] == got
        if not ok:
            fails += 1
            print(f"FAIL {act} bias={bias}: {got} vs {want}")
print("PASS" if not fails else f"FAIL ({fails})")
