"""Neural networks from Values: ``Module``, ``Neuron``, ``Layer`` and ``MLP``.

>>> from microgrsucc.nn import MLP
>>> model = MLP(2, [16, 16, 1], seed=0)
>>> score = model([0.5, -1.0])  # a Value: the last layer has one unit
>>> len(model.parameters())
337
>>> [name for name, p in model.named_parameters()][:3]
['L0.N0.w0', 'L0.N0.w1', 'L0.N0.b']

Initialisation follows PyTorch's ``nn.Linear``: weights and biases uniform in
``±1/sqrt(fan_in)``. Pass ``seed`` (an int or a ``random.Random``) for the same weights every run.
Parameters are named by where they sit (``L0.N1.w0``: layer 0, neuron 1, weight 0; ``b`` for a
bias), and each parameter's ``label`` is its name, so pictures of the graph show it.
``state_dict()`` and ``load_state_dict()`` save and load the weights as a plain dict of floats,
which ``json`` and ``pickle`` both store; modules themselves pickle too.
Losses are in ``microgrsucc.losses``, optimizers in ``microgrsucc.optim``.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from microgrsucc import ops
from microgrsucc.core import is_real, to_sizes
from microgrsucc.functions import zero_grad
from microgrsucc.value import Operand, Value

__all__ = ["ACTIVATIONS", "IncompatibleKeys", "Module", "Neuron", "Layer", "MLP"]


def _identity(v: Value) -> Value:
    return v


# clamp needs a bound (torch's too); neg is no activation anyone means.
_NOT_ACTIVATIONS = {"clamp", "neg"}


ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    # Methods, not Value.relu itself: a Value subclass (Dual, a traced value) keeps its own ops.
    **{
        name: operator.methodcaller(name)
        for name, op in ops.PRIMITIVES.items()
        if op.arity == 1 and name.isidentifier() and name not in _NOT_ACTIVATIONS
    },
    "linear": _identity,
}
"""The activations a ``Neuron`` can apply to its weighted sum, by name: every unary op of the
table (``"relu"``, ``"gelu"``, ``"silu"``, ``"leaky_relu"``, ``"tanh"``, ... with PyTorch's
default constants) and ``"linear"``.

Modules keep the name and look the function up when called, so they pickle by value.
"""


def _rng(seed: int | random.Random | None) -> random.Random:
    # A shared Random is used as is, so the layers of one MLP draw one reproducible sequence.
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    return activation


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as PyTorch: the names it did not find, and did not know."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"  # PyTorch's words
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


class Module:
    """Base class: something with parameters, called like a function."""

    def parameters(self) -> list[Value]:
        """The trainable Values, in a fixed order, each once: a module shared by two places
        (``mlp.layers[1] = mlp.layers[0]``) gives its parameters at their first place, as
        torch's ``parameters()`` (``named_parameters()`` and ``state_dict()`` name them at
        each place, as torch's ``state_dict()``)."""
        return _once([p for _, p in self.named_parameters()])

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """``(name, parameter)`` pairs in the order of ``parameters()``, as in PyTorch."""
        return iter(())

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``grad``: to None (no gradient, the default, as PyTorch), else to 0.0."""
        zero_grad(self.parameters(), set_to_none)

    def state_dict(self) -> dict[str, float]:
        """Every parameter's value by name: a plain dict of floats, ready for ``json``.

        >>> Neuron(2, seed=0).state_dict()
        {'w0': 0.4870860536043755, 'w1': 0.3648026151120298, 'b': -0.11232874762687406}
        """
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, object], strict: bool = True) -> IncompatibleKeys:
        """Set the parameters from a dict such as ``state_dict()`` returns.

        As PyTorch's ``load_state_dict``. Each value must be one real number, as ``Value()``
        takes (a float, an int, a Fraction, a Decimal, a numpy scalar) or a Value; nothing is
        changed unless every value given is good.

        Args:
            state_dict: parameter name -> number.
            strict: the keys must be exactly this module's parameter names (the default). With
                ``False``, the parameters it names are set, the others keep their values, and
                the names it lacks or does not know are returned instead of refused.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``: lists of names, empty when
            ``strict`` (it shows as ``<All keys matched successfully>`` then, as in PyTorch).

        Raises:
            ValueError: with ``strict``, missing or unexpected keys (all named); a list or an
                array where one number belongs.
            TypeError: ``state_dict`` is not a mapping, or a value is not a number.
            OverflowError: a value too large for a float (``10**400``), naming its key.

        >>> a, b = Neuron(2, seed=0), Neuron(2, seed=1)
        >>> b.load_state_dict(a.state_dict())
        <All keys matched successfully>
        >>> b.state_dict() == a.state_dict()
        True
        >>> b.load_state_dict({"w0": 1.0, "bias": 0.0}, strict=False)
        IncompatibleKeys(missing_keys=['w1', 'b'], unexpected_keys=['bias'])
        """
        if not isinstance(state_dict, Mapping):
            kind = type(state_dict).__name__
            raise TypeError(f"load_state_dict expects a dict of name -> number, got {kind}")
        params = dict(self.named_parameters())
        where = f"load_state_dict for {type(self).__name__}"
        missing = [name for name in params if name not in state_dict]
        unexpected = [name for name in state_dict if name not in params]
        if strict and (missing or unexpected):
            problems = []
            if missing:
                problems.append(f"missing keys {', '.join(map(repr, missing))}")
            if unexpected:
                problems.append(f"unexpected keys {', '.join(map(repr, unexpected))}")
            raise ValueError(f"{where}: {'; '.join(problems)}")
        values = {
            name: _parameter_value(where, name, state_dict[name]) for name in params if name in state_dict
        }
        for name, value in values.items():  # all checked: now nothing is left half-loaded
            params[name].data = value
        return IncompatibleKeys(missing, unexpected)

    def _label(self) -> None:
        # Each module labels its parameters by their names; a containing module relabels them after.
        for name, p in self.named_parameters():
            p.label = name


def _parameter_value(where: str, name: str, x: object) -> float:
    """One entry of a state dict as a float; a sequence or array is the wrong shape."""
    if isinstance(x, Value):
        return x.data
    if is_real(x):  # the numbers Value() takes
        try:
            return float(x)  # type: ignore[arg-type]
        except OverflowError:
            raise OverflowError(f"{where}: {name!r} is too large for a float: {x!r:.40}") from None
    shape = getattr(x, "shape", None)
    if shape is not None and shape == ():  # a 0-d numpy array holds one number
        return _parameter_value(where, name, x.item())  # type: ignore[attr-defined]
    if shape is not None or (isinstance(x, (Sequence, set)) and not isinstance(x, (str, bytes))):
        what = f"an array of shape {shape}" if shape is not None else f"a {type(x).__name__} of {len(x)}"  # type: ignore[arg-type]
        raise ValueError(f"{where}: {name!r} is {what}, but the parameter is one number")
    raise TypeError(f"{where}: {name!r} must be a real number, got {type(x).__name__}: {x!r:.40}")


def _once(params: list[Value]) -> list[Value]:
    """``params`` with each Value at its first place only. A shared module repeated them, and
    an optimizer (or ``compile``) refuses a parameter given twice."""
    if len(set(map(id, params))) == len(params):  # the common case: one pass in C
        return params
    seen: set[int] = set()
    return [p for p in params if not (id(p) in seen or seen.add(id(p)))]  # type: ignore[func-returns-value]


def _refuse(model: Module, x: Any) -> None:
    """Raise the error for a batch of samples given where one sample belongs, or for an input of
    one sample that is neither a real number nor a Value; return if ``x`` is neither."""
    if not hasattr(x, "__len__"):
        return
    nin = model.layers[0].nin if isinstance(model, MLP) else model.nin  # type: ignore[attr-defined]
    name, first = type(model).__name__, x[0] if len(x) else None
    if not isinstance(x, (str, bytes)) and (
        getattr(x, "ndim", 1) > 1
        or (isinstance(first, Sequence) and not isinstance(first, (str, bytes)))
        or getattr(first, "ndim", 0) > 0
    ):
        raise TypeError(
            f"{name} takes one sample, a sequence of {nin} numbers, but got a batch of {len(x)} "
            f"samples; call it once per sample: outputs = [model(x) for x in X]"
        ) from None
    bad = [(i, xi) for i, xi in enumerate(x) if not (isinstance(xi, Value) or is_real(xi))]
    if len(x) == nin and bad:
        (i, xi), *_ = bad
        raise TypeError(
            f"{name}: input {i} must be a real number or a Value, got {type(xi).__name__}: {xi!r:.40}"
        ) from None


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
        (nin,) = to_sizes(nin, "Neuron", "nin")
        if nin < 1:
            raise ValueError(f"a Neuron needs at least one input, got nin={nin}")
        self.nin = nin
        self.activation = _check_activation(activation)
        rng = _rng(seed)
        bound = 1.0 / math.sqrt(nin)
        self.w = [Value(rng.uniform(-bound, bound)) for _ in range(nin)]
        self.b = Value(rng.uniform(-bound, bound)) if bias else None
        self._label()

    def __call__(self, x: Sequence[Operand]) -> Value:
        """The neuron's output for one sample ``x`` of ``nin`` numbers or Values.

        Raises:
            ValueError: ``x`` does not hold ``nin`` inputs.
            TypeError: ``x`` is a batch of samples (map it: ``[n(x) for x in X]``), or an
                input is not a number.
        """
        if len(x) != self.nin:
            # Checked here to name the module; micrograd's zip() silently drops the extras.
            _refuse(self, x)
            raise ValueError(f"{self!r} expects {self.nin} inputs, got {len(x)}")
        terms = (wi * xi for wi, xi in zip(self.w, x, strict=True))
        try:  # costs nothing until an input fails to multiply: then say if it was a batch
            # sum() adds in the same order as a loop would, without a bytecode per term.
            total = sum(terms, self.b if self.b is not None else next(terms))
        except TypeError:
            _refuse(self, x)
            raise
        return ACTIVATIONS[self.activation](total)

    def parameters(self) -> list[Value]:
        return [*self.w] if self.b is None else [*self.w, self.b]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        yield from ((f"w{k}", w) for k, w in enumerate(self.w))
        if self.b is not None:
            yield "b", self.b

    def __repr__(self) -> str:
        return f"Neuron(in_features={self.nin}, activation={self.activation!r}, bias={self.b is not None})"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs. Always returns a list, even of one Value.

    ``activation`` is a name of ``ACTIVATIONS``: any unary op of the table, or ``"linear"``.
    """

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str = "relu",
        *,
        bias: bool = True,
        seed: int | random.Random | None = None,
    ) -> None:
        (nin,), (nout,) = to_sizes(nin, "Layer", "nin"), to_sizes(nout, "Layer", "nout")
        if nout < 1:
            raise ValueError(f"a Layer needs at least one neuron, got nout={nout}")
        rng = _rng(seed)
        self.nin, self.nout = nin, nout
        self.activation = _check_activation(activation)
        self.neurons = [Neuron(nin, activation, bias=bias, seed=rng) for _ in range(nout)]
        self._label()

    def __call__(self, x: Sequence[Operand]) -> list[Value]:
        """Each neuron's output for one sample ``x``; raises as ``Neuron`` does, naming the Layer."""
        # A list even for one neuron, so a hidden layer of size 1 feeds the next layer
        # (micrograd unwraps it and the next layer fails).
        try:
            return [n(x) for n in self.neurons]
        except (TypeError, ValueError):
            _refuse(self, x)
            raise

    def parameters(self) -> list[Value]:
        return _once([p for n in self.neurons for p in n.parameters()])

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for j, neuron in enumerate(self.neurons):
            yield from ((f"N{j}.{name}", p) for name, p in neuron.named_parameters())

    def __repr__(self) -> str:
        bias = self.neurons[0].b is not None
        return (
            f"Layer(in_features={self.nin}, out_features={self.nout}, "
            f"activation={self.activation!r}, bias={bias})"
        )


class MLP(Module):
    """A multi-layer perceptron: ``nin`` inputs, then one layer per entry of ``nouts``.

    Hidden layers apply ``activation``; the last layer applies ``output_activation``
    (``"linear"`` by default, so the outputs are raw scores or logits). Either is the name
    of any unary op of the table (``"gelu"``, ``"silu"``, ``"leaky_relu"``: see
    ``ACTIVATIONS``), or ``"linear"``. Calling the model
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
        (nin,), nouts = to_sizes(nin, "MLP", "nin"), to_sizes(nouts, "MLP", "nouts", many=True)
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
        self._label()

    def __call__(self, x: Sequence[Operand]) -> Value | list[Value]:
        """The output for one sample ``x`` of ``nin`` numbers: a Value, or a list for several units.

        Raises:
            ValueError: ``x`` does not hold ``nin`` inputs.
            TypeError: ``x`` is a batch of samples (map it: ``[model(x) for x in X]``), or an
                input is not a number.
        """
        try:
            values = self.layers[0](x)
        except (TypeError, ValueError):
            _refuse(self, x)
            raise
        for layer in self.layers[1:]:
            values = layer(values)
        return values[0] if len(values) == 1 else values

    def parameters(self) -> list[Value]:
        return _once([p for layer in self.layers for p in layer.parameters()])

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for i, layer in enumerate(self.layers):
            yield from ((f"L{i}.{name}", p) for name, p in layer.named_parameters())

    def __repr__(self) -> str:
        rows = "".join(f"  ({i}): {layer!r}\n" for i, layer in enumerate(self.layers))
        return f"MLP(\n{rows})"
