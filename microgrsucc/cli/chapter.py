"""The book chapter's two-layer scalar sigmoid network and its hand-derived gradients.

"The Maths behind Neural Networks", chapter 5, "Back propagation - Pass 2 (Scalar Calculus)"::

    z1 = w1*a0 + b1     a1 = sigmoid(z1)
    z2 = w2*a1 + b2     a2 = sigmoid(z2)
    C  = 1/2 * (y - a2)**2

The formulas, with ``sigmoid'(z) = sigmoid(z) * (1 - sigmoid(z))`` (the chapter writes
``sigmoid'(a)``; it is the derivative at the pre-activation ``z``)::

    (A)  dC/dw2 = a1 * sigmoid'(z2) * (a2 - y)
    (B)  dC/dw1 = a0 * sigmoid'(z1) * (a2 - y) * sigmoid'(z2) * w2
         dC/db2 =      sigmoid'(z2) * (a2 - y)
         dC/db1 =      sigmoid'(z1) * w2 * sigmoid'(z2) * (a2 - y)

``network`` builds the graph from Values so ``backward()`` can be checked against
``formulas``, which evaluates the four expressions above in plain floats.
"""

from __future__ import annotations

from dataclasses import dataclass

from microgrsucc import ops
from microgrsucc.value import Value

__all__ = ["DEFAULTS", "FORMULAS", "Network", "Row", "compare", "formulas", "network"]

DEFAULTS: dict[str, float] = {"x": 0.5, "y": 0.8, "w1": 0.6, "b1": -0.1, "w2": -1.3, "b2": 0.4}
"""The numbers ``microgrsucc demo`` and the chapter example use."""


@dataclass(frozen=True)
class Network:
    """The chapter's network as Values: parameters, intermediate nodes and the cost ``C``."""

    a0: Value
    y: Value
    w1: Value
    b1: Value
    w2: Value
    b2: Value
    z1: Value
    a1: Value
    z2: Value
    a2: Value
    C: Value


def network(x: float, y: float, w1: float, b1: float, w2: float, b2: float) -> Network:
    """Build the chapter's network for input ``x`` and target ``y``, with labelled nodes."""
    a0, target = Value(x, label="a0"), Value(y, label="y")
    pw1, pb1 = Value(w1, label="w1"), Value(b1, label="b1")
    pw2, pb2 = Value(w2, label="w2"), Value(b2, label="b2")
    z1 = pw1 * a0 + pb1
    z1.label = "z1"
    a1 = z1.sigmoid()
    a1.label = "a1"
    z2 = pw2 * a1 + pb2
    z2.label = "z2"
    a2 = z2.sigmoid()
    a2.label = "a2"
    C = 0.5 * (target - a2) ** 2
    C.label = "C"
    return Network(a0, target, pw1, pb1, pw2, pb2, z1, a1, z2, a2, C)


def formulas(x: float, y: float, w1: float, b1: float, w2: float, b2: float) -> dict[str, float]:
    """The chapter's gradients (A), (B) and the bias formulas, in plain floats (no engine)."""
    a0 = x
    z1 = w1 * a0 + b1
    a1 = ops.sigmoid.forward(z1)
    z2 = w2 * a1 + b2
    a2 = ops.sigmoid.forward(z2)
    ds1 = a1 * (1.0 - a1)  # sigmoid'(z1)
    ds2 = a2 * (1.0 - a2)  # sigmoid'(z2)
    return {
        "w2": a1 * ds2 * (a2 - y),  # (A)
        "w1": a0 * ds1 * (a2 - y) * ds2 * w2,  # (B)
        "b2": ds2 * (a2 - y),
        "b1": ds1 * w2 * ds2 * (a2 - y),
    }


FORMULAS: dict[str, tuple[str, str]] = {
    "w1": ("(B)", "a0 * sigmoid'(z1) * (a2 - y) * sigmoid'(z2) * w2"),
    "b1": ("", "sigmoid'(z1) * w2 * sigmoid'(z2) * (a2 - y)"),
    "w2": ("(A)", "a1 * sigmoid'(z2) * (a2 - y)"),
    "b2": ("", "sigmoid'(z2) * (a2 - y)"),
}
"""Each parameter's formula: its name in the chapter, and the product it stands for."""


@dataclass(frozen=True)
class Row:
    """One parameter's gradient from the engine beside the chapter's formula for it."""

    name: str
    formula: str  # "(A)", "(B)" or "" for the biases, which the chapter leaves out
    product: str
    engine: float
    book: float


def compare(values: dict[str, float] | None = None) -> tuple[Network, list[Row]]:
    """The network after ``backward()``, and a row per parameter: the engine against the chapter.

    ``microgrsucc demo`` and ``examples/two_layer_network.py`` both print these rows.

    >>> net, rows = compare()
    >>> all(abs(row.engine - row.book) < 1e-15 for row in rows)
    True
    """
    values = DEFAULTS if values is None else values
    net = network(**values)
    net.C.backward()
    book = formulas(**values)
    rows = [
        Row(name, formula, product, getattr(net, name).grad, book[name])
        for name, (formula, product) in FORMULAS.items()
    ]
    return net, rows
