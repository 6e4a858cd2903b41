"""backward(gradient=a Value) without create_graph, against torch float64.

Found: the gradients came out as Values with a graph back to the seed (x.grad a Value, its
graph kept alive), where torch leaves x.grad a plain tensor with no grad_fn unless
create_graph=True. Prints PASS or FAIL."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg

tx = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
seed_t = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
(tx * tx).backward(seed_t)
x = mg.Value(3.0)
(x * x).backward(mg.Value(2.0))
ok = type(x.grad) is float and x.grad == tx.grad.item() and tx.grad.grad_fn is None
print("PASS" if ok else f"FAIL ours {x.grad!r}, torch {tx.grad!r}")
