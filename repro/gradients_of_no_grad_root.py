"""gradients() of a result computed under no_grad(), against torch.autograd.grad and torch.func.grad.

Found: gradients(y, x) gave 0.0 without a word where torch.autograd.grad raises RuntimeError
("does not require grad") and where our own backward() raises. Inside grad(f), a no_grad
block cuts the result from the input: 0.0, as torch.func.grad. Prints PASS, or FAIL lines."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg

fails = 0


def outcome(fn) -> object:
    try:
        return float(fn())
    except RuntimeError:
        return "RuntimeError"


t = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
with torch.no_grad():
    ty = t * 3
x = mg.Value(2.0)
with mg.no_grad():
    y = x * 3
for name, ours, theirs in [
    ("gradients(no_grad root)", lambda: mg.gradients(y, x), lambda: torch.autograd.grad(ty, t)[0]),
    ("backward(no_grad root)", lambda: y.backward() or 0.0, lambda: ty.backward() or 0.0),
]:
    got, want = outcome(ours), outcome(theirs)
    if got != want:
        fails += 1
        print("FAIL", name, "ours", got, "torch", want)


def f_ours(a):
    with mg.no_grad():
        return a * 3


def f_torch(a):
    with torch.no_grad():
        return a * 3


got, want = mg.grad(f_ours)(2.0), torch.func.grad(f_torch)(torch.tensor(2.0, dtype=torch.float64)).item()
if got != want:
    fails += 1
    print("FAIL grad of f with an inner no_grad: ours", got, "torch.func.grad", want)
print("PASS" if not fails else f"FAIL ({fails})")
