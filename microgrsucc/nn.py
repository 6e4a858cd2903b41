"""Neural networks from Values: ``Module``, ``Neuron``, ``Layer`` and ``MLP``.

>>> from microgrsucc.nn import MLP
>>> model = MLP(2, [16, 16, 1], seed=0)
>>> score = model([0.5, -1.0])  # a Value: the last layer has one unit
>>> len(model.parameters())
337

Initialisation follows PyTorch's ``nn.Linear``: weights and biases uniform in
``±1/sqrt(fan_in)``. Pass ``seed`` (an int or a ``random.Random``) for the same weights every run.
Losses are in ``microgrsucc.losses``, optimizers in ``microgrsucc.optim``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from microgrsucc.engine import Operand, Value, zero_grad

__all__ = ["ACTIVATIONS", "Module", "Neuron", "Layer", "MLP"]

ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    # Methods, not Value.relu itself: a Value subclass (Dual, a traced value) keeps its own ops.
    "relu": lambda v: v.relu(),
    "tanh": lambda v: v.tanh(),
    "sigmoid": lambda v: v.sigmoid(),
    "linear": lambda v: v,
}
"""The activations a ``Neuron`` can apply to its weighted sum, by name."""


def _rng(seed: int | random.Random | None) -> random.Random:
    # A shared Random is used as is, so the layers of one MLP draw one reproducible sequence.
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    return activation


class Module:
    """Base class: something with parameters, called like a function."""

    def parameters(self) -> list[Value]:
        """The trainable Values, in a fixed order."""
        return []

    def zero_grad(self) -> None:
        """Set the ``grad`` of every parameter to 0.0."""
        zero_grad(self.parameters())


class Neuron(Module):
    """``activation(w · x + b)`` for an input of ``nin`` numbers or Values.

    >>> n = Neuron(2, activation="linear", seed=0)
    >>> n.w[0].data, n.w[1].data, n.b.data = 1.0, 2.0, 0.5
    >>> n([3.0, 4.0]).data
    11.5
    """

    def __init__(
        self,
        nin: int,
        activation: str = "relu",
        *,
        bias: bool = True,
        seed: int | random.Random | None = None,
    ) -> None:
        if nin < 1:
            raise ValueError(f"a Neuron needs at least one input, got nin={nin}")
        self.nin = nin
        self.activation = _check_activation(activation)
        self._act = ACTIVATIONS[activation]
        rng = _rng(seed)
        bound = 1.0 / math.sqrt(nin)
        self.w = [Value(rng.uniform(-bound, bound)) for _ in range(nin)]
        self.b = Value(rng.uniform(-bound, bound)) if bias else None

    def __call__(self, x: Sequence[Operand]) -> Value:
        if len(x) != self.nin:
            # Checked here to name the module; micrograd's zip() silently drops the extras.
            raise ValueError(f"{self!r} expects {self.nin} inputs, got {len(x)}")
        terms = (wi * xi for wi, xi in zip(self.w, x, strict=True))
        total = self.b if self.b is not None else next(terms)
        for term in terms:
            total = total + term
        return self._act(total)

    def parameters(self) -> list[Value]:
        return [*self.w] if self.b is None else [*self.w, self.b]

    def __repr__(self) -> str:
        return f"Neuron(in_features={self.nin}, activation={self.activation!r}, bias={self.b is not None})"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs. Always returns a list, even of one Value."""

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str = "relu",
        *,
        bias: bool = True,
        seed: int | random.Random | None = None,
    ) -> None:
        if nout < 1:
            raise ValueError(f"a Layer needs at least one neuron, got nout={nout}")
        rng = _rng(seed)
        self.nin, self.nout = nin, nout
        self.activation = _check_activation(activation)
        self.neurons = [Neuron(nin, activation, bias=bias, seed=rng) for _ in range(nout)]

    def __call__(self, x: Sequence[Operand]) -> list[Value]:
        # A list even for one neuron, so a hidden layer of size 1 feeds the next layer
        # (micrograd unwraps it and the next layer fails).
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        bias = self.neurons[0].b is not None
        return (
            f"Layer(in_features={self.nin}, out_features={self.nout}, "
            f"activation={self.activation!r}, bias={bias})"
        )


class MLP(Module):
    """A multi-layer perceptron: ``nin`` inputs, then one layer per entry of ``nouts``.

    Hidden layers apply ``activation``; the last layer applies ``output_activation``
    (``"linear"`` by default, so the outputs are raw scores or logits). Calling the model
    returns a Value when the last layer has one unit, otherwise a list of Values.

    >>> model = MLP(2, [16, 1, 1], activation="tanh", seed=1)
    >>> model
    MLP(
      (0): Layer(in_features=2, out_features=16, activation='tanh', bias=True)
      (1): Layer(in_features=16, out_features=1, activation='tanh', bias=True)
      (2): Layer(in_features=1, out_features=1, activation='linear', bias=True)
    )
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        *,
        output_activation: str = "linear",
        bias: bool = True,
        seed: int | random.Random | None = None,
    ) -> None:
        if not nouts:
            raise ValueError("an MLP needs at least one layer: nouts is empty")
        _check_activation(activation)  # even when no hidden layer uses it, a typo is a mistake
        rng = _rng(seed)
        sizes = [nin, *nouts]
        last = len(nouts) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], output_activation if i == last else activation, bias=bias, seed=rng)
            for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Operand]) -> Value | list[Value]:
        out: Sequence[Operand] = x
        for layer in self.layers:
            out = layer(out)
        values: list[Value] = out  # type: ignore[assignment]  # at least one layer ran
        return values[0] if len(values) == 1 else values

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        rows = "".join(f"  ({i}): {layer!r}\n" for i, layer in enumerate(self.layers))
        return f"MLP(\n{rows})"
