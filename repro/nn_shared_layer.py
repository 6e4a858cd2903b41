"""nn: a layer shared by two places of an MLP vs torch.nn: parameters() once each (torch), so an
optimizer and compile accept them; it repeated them and SGD raised 'a parameter more than once'."""
import torch
import microgrsucc as mg
from microgrsucc.nn import MLP

t = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
t[1] = t[0]
m = MLP(2, [2, 2, 1], seed=0)
m.layers[1] = m.layers[0]
n = len(m.parameters())
want = sum(p.numel() for p in t.parameters())
try:
    mg.optim.SGD(m.parameters(), lr=0.1)
    err = None
except ValueError as e:
    err = e
print(("PASS" if n == want and err is None else "FAIL") + f": {n} parameters (torch {want}); SGD: {err}")
