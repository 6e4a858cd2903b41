"""Every loss of microgrsucc.losses inside a compiled per-sample loss vs eager mode: the same
numbers, or the documented refusal (a TypeError naming the value) for those that read .data."""
import sys; sys.path.insert(0, "repro")
import microgrsucc as mg
from microgrsucc import losses as L
from microgrsucc.nn import MLP
from _oracle import check

m = MLP(2, [3, 2], activation="tanh", seed=0)
P = m.parameters()
S = [(0.5, -1.0, 1.0), (2.0, 0.25, 0.0), (-1.5, 1.0, 1.0), (30.0, -40.0, 0.0)]
cases = {
    "mse": lambda x, y, t: L.mse_loss(m([x, y])[0], t),
    "l1": lambda x, y, t: L.l1_loss(m([x, y])[0], t),
    "smooth_l1": lambda x, y, t: L.smooth_l1_loss(m([x, y])[0], t, beta=0.5),
    "huber": lambda x, y, t: L.huber_loss(m([x, y])[0], t, delta=0.5),
    "hinge": lambda x, y, t: L.hinge_loss(m([x, y])[0], 2 * t - 1),
    "bce_logits": lambda x, y, t: L.binary_cross_entropy_with_logits(m([x, y])[0], t),
    "bce": lambda x, y, t: L.binary_cross_entropy(m([x, y])[0].sigmoid(), t),
    "logsigmoid": lambda x, y, t: -L.logsigmoid(m([x, y])[0] * (2 * t - 1)),
    "cross_entropy": lambda x, y, t: L.cross_entropy(m([x, y]), int(t)) if isinstance(t, float) else None,
    "softmax": lambda x, y, t: L.softmax(m([x, y]))[0],
    "log_softmax": lambda x, y, t: L.log_softmax(m([x, y]))[1],
    "kl_div": lambda x, y, t: L.kl_div(L.log_softmax(m([x, y])), [0.25, 0.75]),
    "nll": lambda x, y, t: L.nll_loss(L.log_softmax(m([x, y])), 1),
}
for name, loss in cases.items():
    if name == "cross_entropy":
        loss = lambda x, y, t: L.cross_entropy(m([x, y]), 1)
    try:
        check(name, loss, P, S)
    except Exception as e:  # noqa: BLE001
        print(f"INFO {name}: {type(e).__name__}: {str(e)[:200]}")

print("-- with a constant target (not a sample argument)")
const = {
    "hinge": lambda x, y, t: L.hinge_loss(m([x, y])[0], 1.0),
    "bce_logits": lambda x, y, t: L.binary_cross_entropy_with_logits(m([x, y])[0], 1.0),
    "bce": lambda x, y, t: L.binary_cross_entropy(m([x, y])[0].sigmoid(), 1.0),
    "smooth_l1": lambda x, y, t: L.smooth_l1_loss(m([x, y])[0], 1.0, beta=0.5),
    "huber": lambda x, y, t: L.huber_loss(m([x, y])[0], 1.0, delta=0.5),
    "mse, target sample": lambda x, y, t: L.mse_loss(m([x, y])[0], t),
    "l1, target sample": lambda x, y, t: L.l1_loss(m([x, y])[0], t),
}
for name, loss in const.items():
    check(name, loss, P, S, backends=("python",))
