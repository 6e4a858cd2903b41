"""Modules: parameters, initialisation, shapes of the output, errors, and a training run."""

from __future__ import annotations

import json
import math
import multiprocessing
import pickle
import random
from copy import deepcopy
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value
from microgrsucc.datasets import make_moons
from microgrsucc.losses import hinge_loss
from microgrsucc.nn import MLP, Layer, Module, Neuron
from microgrsucc.optim import SGD, Adam
from microgrsucc.testing.strategies import reals


def test_neuron_computes_activation_of_weighted_sum_plus_bias() -> None:
    n = Neuron(2, activation="tanh", seed=0)
    n.w[0].data, n.w[1].data, n.b.data = 0.5, -2.0, 0.25  # type: ignore[union-attr]
    assert n([3.0, 1.0]).data == pytest.approx(math.tanh(1.5 - 2.0 + 0.25))


@pytest.mark.parametrize(
    ("activation", "f"),
    [
        ("relu", lambda z: max(z, 0.0)),
        ("tanh", math.tanh),
        ("sigmoid", lambda z: 1.0 / (1.0 + math.exp(-z))),
        ("linear", lambda z: z),
    ],
)
def test_each_activation(activation: str, f: object) -> None:
    n = Neuron(1, activation=activation, bias=False, seed=0)
    n.w[0].data = 1.0
    for z in (-1.5, 0.7):
        assert n([z]).data == pytest.approx(f(z))  # type: ignore[operator]


def test_neuron_without_bias_has_only_weights() -> None:
    n = Neuron(3, bias=False, seed=0)
    assert n.b is None
    assert n.parameters() == n.w
    for w in n.w:
        w.data = 1.0
    assert n([1.0, 2.0, 3.0]).data == 6.0


def test_parameter_count_of_an_mlp() -> None:
    model = MLP(2, [16, 16, 1])
    assert len(model.parameters()) == (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    assert len({id(p) for p in model.parameters()}) == len(model.parameters())
    assert len(MLP(3, [4, 1], bias=False).parameters()) == 16


def test_hidden_layer_of_one_unit_works() -> None:
    model = MLP(2, [16, 1, 1], seed=3)  # micrograd fails here: its 1-unit layer returns a bare Value
    out = model([0.5, -0.25])
    assert isinstance(out, Value)
    out.backward()
    assert any(p.grad != 0.0 for p in model.layers[0].parameters())


def test_output_is_a_value_for_one_unit_and_a_list_otherwise() -> None:
    assert isinstance(MLP(2, [3, 1], seed=0)([1.0, 2.0]), Value)
    out = MLP(2, [3, 2], seed=0)([1.0, 2.0])
    assert isinstance(out, list)
    assert len(out) == 2
    assert all(isinstance(v, Value) for v in out)
    assert len(Layer(2, 1, seed=0)([1.0, 2.0])) == 1  # a Layer always returns a list


def test_last_layer_is_linear_unless_asked() -> None:
    model = MLP(2, [4, 4, 3], activation="tanh", seed=0)
    assert [layer.activation for layer in model.layers] == ["tanh", "tanh", "linear"]
    sigmoid_out = MLP(2, [4, 1], output_activation="sigmoid", seed=0)
    assert sigmoid_out.layers[-1].activation == "sigmoid"
    assert 0.0 < sigmoid_out([100.0, -100.0]).data < 1.0  # type: ignore[union-attr]


def test_linear_output_can_be_negative_and_large() -> None:
    model = MLP(1, [1], seed=0)
    model.layers[0].neurons[0].w[0].data = -3.0
    model.layers[0].neurons[0].b.data = 0.0  # type: ignore[union-attr]
    assert model([10.0]).data == -30.0  # type: ignore[union-attr]


@given(st.integers(1, 40), st.integers(0, 2**32))
def test_init_is_uniform_within_one_over_sqrt_fan_in(fan_in: int, seed: int) -> None:
    layer = Layer(fan_in, 8, seed=seed)
    bound = 1.0 / math.sqrt(fan_in)
    assert all(-bound <= p.data <= bound for p in layer.parameters())


def test_init_spread_shrinks_with_fan_in() -> None:
    wide = [p.data for p in Layer(400, 10, seed=0).parameters()]
    narrow = [p.data for p in Layer(4, 10, seed=0).parameters()]
    assert max(map(abs, wide)) < 0.06 < max(map(abs, narrow))


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    def weights(seed: int | random.Random | None) -> list[float]:
        return [p.data for p in MLP(2, [8, 8, 1], seed=seed).parameters()]

    assert weights(7) == weights(7)
    assert weights(7) != weights(8)
    assert weights(random.Random(7)) == weights(7)
    assert weights(None) != weights(None)


def test_a_shared_random_gives_each_model_fresh_weights() -> None:
    rng = random.Random(0)
    first, second = MLP(2, [4], seed=rng), MLP(2, [4], seed=rng)
    assert [p.data for p in first.parameters()] != [p.data for p in second.parameters()]


def test_zero_grad_clears_every_parameter() -> None:
    model = MLP(2, [4, 1], seed=0)
    assert all(p.grad is None for p in model.parameters())  # no gradient yet, as in PyTorch
    model([1.0, -1.0]).backward()  # type: ignore[union-attr]
    assert any(p.grad not in (None, 0.0) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_module_base_has_no_parameters() -> None:
    assert Module().parameters() == []


def test_repr_names_layers_sizes_and_activations() -> None:
    assert repr(MLP(2, [16, 1], seed=0)) == (
        "MLP(\n"
        "  (0): Layer(in_features=2, out_features=16, activation='relu', bias=True)\n"
        "  (1): Layer(in_features=16, out_features=1, activation='linear', bias=True)\n"
        ")"
    )
    assert repr(Neuron(3, "tanh", bias=False)) == "Neuron(in_features=3, activation='tanh', bias=False)"


def test_wrong_input_length_raises() -> None:
    model = MLP(3, [2, 1], seed=0)
    with pytest.raises(ValueError, match="expects 3 inputs, got 2"):
        model([1.0, 2.0])
    with pytest.raises(ValueError, match="expects 3 inputs, got 4"):
        model([1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    ("model", "name"),
    [(MLP(2, [3, 1], seed=0), "MLP"), (Layer(2, 3, seed=0), "Layer"), (Neuron(2, seed=0), "Neuron")],
)
@pytest.mark.parametrize(
    "batch",
    [
        [[0.1, 0.2], [0.3, 0.4]],  # as many samples as inputs: each sample met a weight
        np.array([[0.1, 0.2], [0.3, 0.4]]),
        np.zeros((5, 2)),  # another number of samples
        [(0.1, 0.2)] * 3,
    ],
)
def test_a_batch_given_to_a_model_says_it_takes_one_sample_and_how_to_map(
    model: Module, name: str, batch: object
) -> None:
    with pytest.raises(
        TypeError, match=rf"^{name} takes one sample.*batch of \d+ samples.*\[model\(x\) for x in X\]"
    ):
        model(batch)  # type: ignore[operator]
    outputs = [model(x) for x in batch]  # type: ignore[operator, attr-defined]  # the advice works
    assert len(outputs) == len(batch)  # type: ignore[arg-type]


def test_one_sample_as_a_numpy_row_is_not_a_batch() -> None:
    model = MLP(2, [3, 1], seed=0)
    assert model(np.array([0.1, 0.2])).data == model([0.1, 0.2]).data  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MLP(2, [3], activation="softmax"), "unknown activation 'softmax'"),
        (lambda: MLP(2, [3], output_activation="swish"), "unknown activation 'swish'"),
        (lambda: MLP(2, []), "nouts is empty"),
        (lambda: Layer(2, 0), "at least one neuron"),
        (lambda: Neuron(0), "at least one input"),
    ],
)
def test_bad_construction_raises(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


@given(reals(-5, 5), reals(-5, 5))
def test_backward_through_an_mlp_matches_a_hand_computation(x0: float, x1: float) -> None:
    model = MLP(2, [2, 1], activation="tanh", seed=1)
    (h0, h1), (out,) = model.layers[0].neurons, model.layers[1].neurons
    y = model([x0, x1])
    y.backward()  # type: ignore[union-attr]
    a0 = math.tanh(h0.w[0].data * x0 + h0.w[1].data * x1 + h0.b.data)  # type: ignore[union-attr]
    a1 = math.tanh(h1.w[0].data * x0 + h1.w[1].data * x1 + h1.b.data)  # type: ignore[union-attr]
    assert out.w[0].grad == pytest.approx(a0)
    assert out.w[1].grad == pytest.approx(a1)
    assert h0.w[0].grad == pytest.approx(out.w[0].data * (1 - a0 * a0) * x0, abs=1e-12)
    assert h1.b.grad == pytest.approx(out.w[1].data * (1 - a1 * a1), abs=1e-12)  # type: ignore[union-attr]


def test_training_on_half_moons_reaches_97_percent() -> None:
    # Smaller than micrograd's demo (examples/moons.py and the README train that one), so
    # it takes about 40 steps of well under a second in all.
    X, y = make_moons(40, noise=0.1, seed=0)
    targets = [2 * label - 1 for label in y]
    model = MLP(2, [8, 8, 1], seed=0)
    optimizer = Adam(model.parameters(), lr=0.05)
    accuracies = []
    for _ in range(80):
        scores = [model(x) for x in X]
        accuracies.append(
            sum((s.data > 0) == (t > 0) for s, t in zip(scores, targets, strict=True)) / len(X)  # type: ignore[union-attr]
        )
        if accuracies[-1] >= 0.97:
            break
        optimizer.zero_grad()
        hinge_loss(scores, targets).backward()  # type: ignore[arg-type]
        optimizer.step()
    assert accuracies[0] < 0.9 and accuracies[-1] >= 0.97  # it learned: it started far from there


# --- names, state dicts, pickling -------------------------------------------------------------


def test_named_parameters_name_layer_neuron_and_weight() -> None:
    model = MLP(2, [3, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names[:7] == ["L0.N0.w0", "L0.N0.w1", "L0.N0.b", "L0.N1.w0", "L0.N1.w1", "L0.N1.b", "L0.N2.w0"]
    assert names[-4:] == ["L1.N0.w0", "L1.N0.w1", "L1.N0.w2", "L1.N0.b"]
    assert [p for _, p in model.named_parameters()] == model.parameters()
    assert [name for name, _ in Layer(2, 2, seed=0).named_parameters()] == [
        "N0.w0", "N0.w1", "N0.b", "N1.w0", "N1.w1", "N1.b",
    ]  # fmt: skip
    assert [name for name, _ in Neuron(2, seed=0).named_parameters()] == ["w0", "w1", "b"]
    assert [name for name, _ in Neuron(2, bias=False, seed=0).named_parameters()] == ["w0", "w1"]
    assert list(Module().named_parameters()) == []


def test_each_parameter_is_labelled_with_its_name() -> None:
    for module in (MLP(2, [3, 2, 1], seed=0), Layer(3, 2, seed=0), Neuron(4, seed=0)):
        assert all(p.label == name for name, p in module.named_parameters())
    assert MLP(2, [3, 1], seed=0).layers[0].neurons[1].w[0].label == "L0.N1.w0"


def test_state_dict_is_a_plain_dict_of_floats_by_name() -> None:
    model = MLP(2, [3, 1], seed=0)
    state = model.state_dict()
    assert type(state) is dict
    assert list(state) == [name for name, _ in model.named_parameters()]
    assert all(type(v) is float for v in state.values())
    assert state["L0.N1.w0"] == model.layers[0].neurons[1].w[0].data


def test_state_dict_round_trips_through_json_into_another_model() -> None:
    source, target = MLP(2, [4, 1], seed=0), MLP(2, [4, 1], seed=1)
    x = [0.3, -0.7]
    assert target(x).data != source(x).data  # type: ignore[union-attr]
    target.load_state_dict(json.loads(json.dumps(source.state_dict())))
    assert target.state_dict() == source.state_dict()
    assert target(x).data == source(x).data  # type: ignore[union-attr]


def test_load_state_dict_takes_every_number_value_takes() -> None:
    n = Neuron(2, seed=0)
    n.load_state_dict({"w0": 1, "w1": np.float32(0.5), "b": Value(-2.0)})
    assert n.state_dict() == {"w0": 1.0, "w1": 0.5, "b": -2.0}
    n.load_state_dict({"w0": Decimal("0.1"), "w1": Fraction(1, 3), "b": 2**70})
    assert n.state_dict() == {"w0": 0.1, "w1": 1 / 3, "b": float(2**70)}
    assert all(type(v) is float for v in n.state_dict().values())


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        ({"w0": 1.0, "w1": 2.0}, ValueError, "missing keys 'b'"),
        ({"w0": 1.0, "w1": 2.0, "b": 0.0, "w2": 3.0}, ValueError, "unexpected keys 'w2'"),
        ({"w0": 1.0, "b": 0.0, "bias": 3.0}, ValueError, "missing keys 'w1'; unexpected keys 'bias'"),
        (
            {"w0": 1.0, "w1": [2.0, 3.0], "b": 0.0},
            ValueError,
            "'w1' is a list of 2, but the parameter is one number",
        ),
        ({"w0": 1.0, "w1": np.zeros(3), "b": 0.0}, ValueError, r"'w1' is an array of shape \(3,\)"),
        ({"w0": 1.0, "w1": "2.0", "b": 0.0}, TypeError, "'w1' must be a real number, got str"),
        ({"w0": 1.0, "w1": None, "b": 0.0}, TypeError, "'w1' must be a real number, got NoneType"),
        ({"w0": 1.0, "w1": True, "b": 0.0}, TypeError, "'w1' must be a real number, got bool"),
        ([("w0", 1.0)], TypeError, "expects a dict"),
    ],
)
def test_load_state_dict_refuses_and_changes_nothing(state: object, error: type, message: str) -> None:
    n = Neuron(2, seed=0)
    before = n.state_dict()
    with pytest.raises(error, match=f"load_state_dict for Neuron: {message}|{message}"):
        n.load_state_dict(state)  # type: ignore[arg-type]
    assert n.state_dict() == before  # nothing half-loaded: "w0" came first and is unchanged


def test_load_state_dict_not_strict_loads_what_it_can_and_returns_the_other_keys() -> None:
    n = Neuron(2, seed=0)
    before = n.state_dict()
    result = n.load_state_dict({"w1": 5.0, "bias": 1.0, "w9": 2.0}, strict=False)
    # As torch's _IncompatibleKeys: missing in parameter order, unexpected in the dict's order.
    assert result.missing_keys == ["w0", "b"]
    assert result.unexpected_keys == ["bias", "w9"]
    assert n.state_dict() == {**before, "w1": 5.0}


def test_load_state_dict_strict_returns_no_incompatible_keys() -> None:
    n = Neuron(2, seed=0)
    result = n.load_state_dict(n.state_dict())
    assert (result.missing_keys, result.unexpected_keys) == ([], [])
    assert repr(result) == "<All keys matched successfully>"  # PyTorch's words


@pytest.mark.parametrize("strict", [True, False])
def test_a_value_too_large_for_a_float_names_its_key(strict: bool) -> None:
    n = Neuron(2, seed=0)
    before = n.state_dict()
    with pytest.raises(OverflowError, match="load_state_dict for Neuron: 'w1' is too large for a float"):
        n.load_state_dict({"w0": 1.0, "w1": 10**400, "b": 0.0}, strict=strict)
    assert n.state_dict() == before


def test_load_state_dict_takes_a_zero_dimensional_array() -> None:
    n = Neuron(1, bias=False, seed=0)
    n.load_state_dict({"w0": np.array(2.5)})
    assert n.w[0].data == 2.5


def test_a_model_of_another_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"missing keys 'L0.N3.w0'.*unexpected keys"):
        MLP(2, [4, 1], seed=0).load_state_dict(MLP(3, [3, 1], seed=0).state_dict())


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_modules_pickle_and_unpickle_to_the_same_function(activation: str) -> None:
    for module in (
        MLP(2, [3, 1], activation=activation, output_activation=activation, seed=0),
        Layer(2, 3, activation, seed=0),
        Neuron(2, activation, seed=0),
    ):
        for copy in (pickle.loads(pickle.dumps(module)), deepcopy(module)):
            assert_same_module(copy, module)


def assert_same_module(copy: Module, module: Module) -> None:
    assert type(copy) is type(module)
    assert repr(copy) == repr(module)
    assert copy.state_dict() == module.state_dict()
    assert [p.label for p in copy.parameters()] == [p.label for p in module.parameters()]
    out, copied = module([0.4, -1.3]), copy([0.4, -1.3])  # type: ignore[operator]
    assert [v.data for v in np.atleast_1d(out)] == [v.data for v in np.atleast_1d(copied)]
    assert not set(map(id, copy.parameters())) & set(map(id, module.parameters()))


def _output(model: MLP, x: list[float]) -> float:
    return model(x).data  # type: ignore[union-attr]


def test_models_work_with_multiprocessing() -> None:
    model = MLP(2, [4, 1], activation="tanh", seed=0)
    inputs = [[0.1, 0.2], [-1.0, 3.0]]
    # spawn pickles the model and the function by name, as on macOS and Windows.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        outputs = pool.starmap(_output, [(model, x) for x in inputs])
        states = pool.map(MLP.state_dict, [model])
    assert outputs == [_output(model, x) for x in inputs]
    assert states == [model.state_dict()]


# --- activations by name: every unary op of the table, checked against PyTorch ------------------

_TORCH_ACTIVATIONS = ["gelu", "silu", "leaky_relu", "elu", "selu", "celu", "softplus", "mish", "hardswish",
                      "hardsigmoid", "relu6", "hardtanh", "softsign", "tanh", "sigmoid", "relu"]  # fmt: skip


def test_every_unary_op_of_the_table_is_an_activation() -> None:
    from microgrsucc import ops
    from microgrsucc.nn import ACTIVATIONS

    unary = {name for name, op in ops.PRIMITIVES.items() if op.arity == 1 and name.isidentifier()}
    assert set(ACTIVATIONS) == unary - {"clamp", "neg"} | {"linear"}
    assert MLP(2, [3, 1], activation="gelu", seed=0)([0.5, -1.0]).data == pytest.approx(
        _two_layer(MLP(2, [3, 1], activation="gelu", seed=0), [0.5, -1.0], "gelu")
    )
    with pytest.raises(ValueError, match="unknown activation 'gelu_new'"):
        Layer(2, 3, activation="gelu_new")


def _two_layer(model: MLP, x: list[float], activation: str) -> float:
    """The model's output written out by hand with the table's function: an independent sum."""
    import microgrsucc as mg

    act = getattr(mg, activation)
    first, last = model.layers
    hidden = [
        act(sum(w.data * xi for w, xi in zip(n.w, x, strict=True)) + n.b.data).data for n in first.neurons
    ]
    (out,) = last.neurons
    return sum(w.data * h for w, h in zip(out.w, hidden, strict=True)) + out.b.data  # type: ignore[union-attr]


@pytest.mark.parametrize("activation", _TORCH_ACTIVATIONS)
def test_an_mlp_with_each_activation_matches_pytorch(activation: str, torch: Any) -> None:
    """Output and every weight's gradient against the same network in torch float64."""
    model = MLP(3, [4, 4, 1], activation=activation, seed=1)
    x = [0.3, -1.7, 2.2]
    out = model(x)
    out.backward()  # type: ignore[union-attr]
    layers = []
    for layer in model.layers:
        linear = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(
                torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
            )
            linear.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))  # type: ignore[union-attr]
        layers.append(linear)
    act = getattr(torch.nn.functional, activation, None) or getattr(torch, activation)
    h = torch.tensor(x, dtype=torch.float64)
    for i, linear in enumerate(layers):
        h = linear(h)
        if i < len(layers) - 1:
            h = act(h)
    h.sum().backward()
    assert out.data == pytest.approx(h.item(), rel=1e-12, abs=1e-14)  # type: ignore[union-attr]
    for layer, linear in zip(model.layers, layers, strict=True):
        grads = [[w.grad for w in n.w] for n in layer.neurons]
        # torch's hardsigmoid slope is float32's 1/6 (docs/ops.md): a relative 3e-8 apart.
        rtol = 1e-7 if activation == "hardsigmoid" else 1e-10
        assert np.allclose(grads, linear.weight.grad.numpy(), rtol=rtol, atol=1e-14)  # type: ignore[union-attr]


def test_a_shared_layer_gives_its_parameters_once_as_torch() -> None:
    torch = pytest.importorskip("torch")
    shared = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    shared[1] = shared[0]
    # torch: each shared parameter once in parameters(), under each name in state_dict()
    want_parameters = sum(p.numel() for p in shared.parameters())
    want_state = sum(t.numel() for t in shared.state_dict().values())
    model = MLP(2, [2, 2, 1], seed=0)
    model.layers[1] = model.layers[0]
    params = model.parameters()
    assert len(params) == want_parameters == 9 and len({id(p) for p in params}) == 9
    assert params[:6] == model.layers[0].parameters()  # at their first place
    assert len(model.state_dict()) == want_state == 15
    SGD(params, lr=0.1)  # refused a parameter given twice before
    step = mg.compile(lambda x, y: model([x, y]), params)
    assert step.backward([(0.5, -1.0)]) == model([0.5, -1.0]).data


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Neuron(2.5), "Neuron: nin must be an int, got float"),
        (lambda: Neuron("2"), "Neuron: nin must be an int, got str"),
        (lambda: Neuron(True), "Neuron: nin must be an int, got bool"),
        (lambda: Layer(2, 2.0), "Layer: nout must be an int, got float"),
        (lambda: MLP(2.0, [2]), "MLP: nin must be an int, got float"),
        (lambda: MLP(2, 3), "MLP: nouts must be a sequence of ints, got int"),
        (lambda: MLP(2, [2, 1.0]), "MLP: nouts must be a sequence of ints, got float"),
    ],
)
def test_sizes_that_are_not_ints_are_a_type_error_naming_the_module(make: Any, words: str) -> None:
    # They raised "'float' object cannot be interpreted as an integer" or built Neuron(in_features=True).
    with pytest.raises(TypeError, match=f"^{words}"):
        make()


def test_numpy_integer_sizes_build_the_same_model() -> None:
    assert MLP(np.int64(2), [np.int32(3), 1], seed=0).state_dict() == MLP(2, [3, 1], seed=0).state_dict()


@pytest.mark.parametrize("model", [MLP(2, [3, 1], seed=0), Layer(2, 3, seed=0), Neuron(2, seed=0)])
@pytest.mark.parametrize("x", [[1.0, None], [1.0, "a"], "ab", [1.0, [2.0]]])
def test_an_input_that_is_no_number_is_a_type_error_naming_the_module_and_input(model: Any, x: Any) -> None:
    # They raised "can't multiply sequence by non-int of type 'Value'" and the like.
    with pytest.raises(
        TypeError, match=rf"^{type(model).__name__}.*: input \d must be a real number or a Value"
    ):
        model(x)
