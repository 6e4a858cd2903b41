"""The layer-level plan (``compiler/layers.py``): layers, maps and sums of squares found in a
trace, generated numpy code whose length does not grow with the model's width, and numbers
equal to eager mode's."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc.compiler.layers import find_blocks, find_squares
from microgrsucc.compiler.numpy_printer import NUMPY
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.tracing import trace

np = pytest.importorskip("numpy")

L2 = 1e-4


def mlp(width: int, seed: int = 0) -> tuple[Callable[..., Any], list[mg.Value]]:
    """The benchmark's model: 2 -> width -> width -> 1, relu, hinge loss plus L2 over every parameter."""
    rng = random.Random(seed)
    sizes = [2, width, width, 1]
    layers = [
        (
            [[mg.Value(rng.uniform(-1, 1)) for _ in range(nin)] for _ in range(nout)],
            [mg.Value(0.1) for _ in range(nout)],
        )
        for nin, nout in itertools.pairwise(sizes)
    ]
    params = [p for rows, bs in layers for row, b in zip(rows, bs, strict=True) for p in [*row, b]]

    def sample_loss(x0: Any, x1: Any, y: Any) -> Any:
        x = [x0, x1]
        for i, (rows, bs) in enumerate(layers):
            out = [
                sum((w * a for w, a in zip(row, x, strict=True)), b) for row, b in zip(rows, bs, strict=True)
            ]
            x = out if i == len(layers) - 1 else [a.relu() for a in out]
        return (1 + -y * x[0]).relu() + L2 * sum(p * p for p in params)

    return sample_loss, params


def eager(
    sample_loss: Callable[..., Any], params: list[mg.Value], rows: list[tuple[float, ...]]
) -> tuple[float, list[float]]:
    """The total and gradients of eager mode: every sample's graph summed, then backward()."""
    mg.zero_grad(params)
    total = sum((sample_loss(*[mg.Value(x) for x in row]) for row in rows), mg.Value(0.0))
    total.backward()
    return total.data, [0.0 if p.grad is None else p.grad for p in params]


def compiled(sample_loss: Callable[..., Any], params: list[mg.Value], rows: Any) -> tuple[float, list[float]]:
    mg.zero_grad(params)
    step = mg.compile(sample_loss, params, backend="numpy")
    total = step.backward(rows, reduction="sum")
    return total, [0.0 if p.grad is None else p.grad for p in params]


def close(got: float, want: float, scale: float = 1.0) -> bool:
    """eager's NaN or infinity exactly, else within 1e-10 of it (relative to ``scale``, the
    size of the terms summed into it, and no closer than the subnormals)."""
    if math.isnan(want) or math.isinf(want):
        return math.isnan(got) if math.isnan(want) else got == want
    # Below the normal floats an order of summation moves a result by a subnormal's step.
    return abs(got - want) <= max(1e-10 * max(abs(want), scale), 1e-300)


def test_the_plan_of_an_mlp_is_three_layers_two_relus_and_one_sum_of_squares() -> None:
    sample_loss, params = mlp(5)
    plan = Plan(trace(sample_loss, params, 3), NUMPY, backward=True)
    blocks, _ = find_blocks(plan)
    layers = sorted((b for b in blocks if b.kind == "layer"), key=lambda b: b.first)
    assert [len(b.members) for b in layers] == [5, 5, 1]
    assert [len(b.key) for b in layers] == [2, 5, 5]
    assert [len(b.members) for b in blocks if b.kind == "map"] == [5, 5]
    (squares,) = find_squares(plan)
    assert sorted(squares.params) == list(range(len(params)))
    assert set(squares.weights) == {1.0} and not any(squares.powered)


def skip_mlp(width: int) -> tuple[Callable[..., Any], list[mg.Value]]:
    """MLP(1, [width, 1]) beside a linear skip ``w * x``: a dot over the hidden layer's input."""
    model = mg.nn.MLP(1, [width, 1], seed=0)
    params = model.parameters()
    skip = mg.Value(0.5)

    def sample_loss(x: Any, y: Any) -> Any:
        return mg.maximum(model([x]), skip * x) - y  # type: ignore[arg-type]

    return sample_loss, [*params, skip]


def test_a_unit_its_layers_relu_skips_is_split_off_and_relu_maps_the_rest() -> None:
    # w * x joins the hidden layer as one more unit; relu of the others was one column per unit.
    sample_loss, params = skip_mlp(5)
    plan = Plan(trace(sample_loss, params, 2), NUMPY, backward=True)
    blocks, _ = find_blocks(plan)
    layers = [b for b in blocks if b.kind == "layer"]
    assert sorted(len(b.members) for b in layers) == [1, 1, 5]
    (relu,) = [b for b in blocks if b.kind == "map"]
    assert relu.source is not None and len(relu.source.members) == len(relu.members) == 5
    rows = [(x, y) for x, y, _ in moons(40, 1)] + [(math.nan, 1.0), (math.inf, -1.0), (-0.0, 1.0)]
    want_total, want = eager(sample_loss, params, rows)
    total, got = compiled(sample_loss, params, np.array(rows))
    assert close(total, want_total)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def test_generated_numpy_code_does_not_grow_with_the_width() -> None:
    lengths = []
    for width in (4, 32):
        sample_loss, params = mlp(width)
        lengths.append(len(mg.compile(sample_loss, params, backend="numpy").source(3).splitlines()))
    assert lengths[1] <= lengths[0] + 2, lengths
    assert lengths[1] < 80


def moons(n: int, seed: int) -> list[tuple[float, float, float]]:
    rng = random.Random(seed)
    return [(rng.uniform(-2, 2), rng.uniform(-2, 2), rng.choice([-1.0, 1.0])) for _ in range(n)]


@pytest.mark.parametrize("width", [3, 8])
def test_a_compiled_mlp_gives_eager_results(width: int) -> None:
    sample_loss, params = mlp(width)
    rows = moons(50, width)
    want_total, want = eager(sample_loss, params, rows)
    total, got = compiled(sample_loss, params, np.array(rows))
    assert close(total, want_total)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)


SPECIAL = [0.0, -0.0, 1.5, -2.0, 1e200, -1e160, math.inf, -math.inf, math.nan]
PENALTIES = {
    "c * sum(p * p)": lambda ps: 0.5 * sum(p * p for p in ps),
    "sum(c * p ** 2)": lambda ps: sum((0.1 * k + 0.1) * p**2 for k, p in enumerate(ps)),
    "sum(p ** 2 * c) + sum(p * p)": lambda ps: sum(p**2 * 3.0 for p in ps) + sum(p * p for p in ps[:2]),
    "repeated parameters": lambda ps: 2.0 * (ps[0] * ps[0] + ps[1] * ps[1] + ps[0] * ps[0] + 1.0),
}


@settings(max_examples=40, deadline=None)
@given(
    penalty=st.sampled_from(sorted(PENALTIES)),
    values=st.lists(st.one_of(st.sampled_from(SPECIAL), st.floats(-3, 3)), min_size=3, max_size=6),
)
def test_sums_of_squares_give_eager_results_and_errors(penalty: str, values: list[float]) -> None:
    params = [mg.Value(v) for v in values]
    make = PENALTIES[penalty]

    def sample_loss(x: Any) -> Any:
        return (x * params[0]).relu() + make(params)

    rows = [(0.5,), (-1.0,), (2.0,)]
    try:
        want_total, want = eager(sample_loss, params, rows)
    except OverflowError:  # Python's ** of a finite number past the floats
        with pytest.raises(OverflowError):
            compiled(sample_loss, params, rows)
        return
    total, got = compiled(sample_loss, params, rows)
    scale = sum(min(abs(v), 1e150) ** 2 for v in values if math.isfinite(v)) * 10
    assert close(total, want_total, scale), (total, want_total)
    for g, w, v in zip(got, want, values, strict=True):
        assert close(g, w, 10 * abs(v) if math.isfinite(v) else 1.0), (got, want)


def test_a_sum_of_squares_is_one_dot_product_in_the_generated_code() -> None:
    sample_loss, params = mlp(6)
    plan = Plan(trace(sample_loss, params, 3), NUMPY, backward=True)
    (squares,) = find_squares(plan)
    source = mg.compile(sample_loss, params, backend="numpy").source(3)
    assert source.count("_squares(") == 1 and source.count("_square_grads(") == 1
    assert len(squares.interior) >= 2 * len(params)  # every add and product absorbed


def test_a_sum_of_squares_beside_a_sum_that_is_not_one_is_found_alone() -> None:
    """An L1 sum (abs of each parameter) and an L2 sum added together: the whole is not a sum
    of squares, nor any part of the L1 chain; the L2 chain is one, found whole."""
    rng = random.Random(3)
    params = [mg.Value(rng.uniform(-1, 1)) for _ in range(40)]
    l1, l2 = params[:20], params[20:]

    def sample_loss(x: Any) -> Any:
        return x * params[0] + (sum(abs(p) for p in l1) + 0.5 * sum(p * p for p in l2))

    plan = Plan(trace(sample_loss, params, 1), NUMPY, backward=True)
    (squares,) = find_squares(plan)
    assert squares.params == list(range(20, 40))
    assert squares.weights == [1.0] * 20


@pytest.mark.parametrize("special", [math.nan, math.inf, -math.inf, -0.0, 0.0])
def test_relu_in_place_with_a_mask_keeps_nan_inf_and_zero_as_eager(special: float) -> None:
    """relu of a layer is np.maximum in the layer's buffer and its slope a mask: a NaN or an
    infinity reaching it gives eager mode's numbers. The loss is linear in the relus, so the
    gradient reaching a NaN relu is finite and only the slope (NaN, not 0) makes it NaN."""
    rng = random.Random(5)
    rows_w = [[mg.Value(rng.uniform(-1, 1)) for _ in range(2)] for _ in range(4)]
    biases = [mg.Value(0.1) for _ in range(4)]
    out = [mg.Value(rng.uniform(-1, 1)) for _ in range(4)]
    params = [p for row, b in zip(rows_w, biases, strict=True) for p in [*row, b]] + out

    def sample_loss(x0: Any, x1: Any) -> Any:
        hidden = [(w0 * x0 + w1 * x1 + b).relu() for (w0, w1), b in zip(rows_w, biases, strict=True)]
        return sum((v * h for v, h in zip(out, hidden, strict=True)), mg.Value(0.0)) + 0.0

    rows = [(rng.uniform(-2, 2), rng.uniform(-2, 2)) for _ in range(9)]
    rows[4] = (special, 1.0)
    want_total, want = eager(sample_loss, params, rows)
    total, got = compiled(sample_loss, params, np.array(rows))
    assert close(total, want_total)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def test_a_batch_runs_in_chunks_with_eager_results_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from microgrsucc.compiler import numpy_runtime

    monkeypatch.setattr(numpy_runtime, "CHUNK", 7)
    sample_loss, params = mlp(3)
    rows = moons(40, 2)
    want_total, want = eager(sample_loss, params, rows)
    total, got = compiled(sample_loss, params, np.array(rows))
    assert close(total, want_total)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)

    w = mg.Value(0.5)
    logs = [(1.0 + k,) for k in range(20)]
    logs[17] = (-3.0,)  # log of a negative number, in the third chunk
    with pytest.raises(ValueError, match="log"):
        mg.compile(lambda x: (w * x).log(), [w], backend="numpy").backward(logs)


def test_a_wide_layer_runs_in_smaller_chunks_with_eager_results(monkeypatch: pytest.MonkeyPatch) -> None:
    from microgrsucc.compiler import numpy_runtime

    # At most 64 samples a pass, and 100 floats a buffer: 4 columns (3 units and the
    # column of ones) make chunks of 16, so 40 samples run as 16 + 16 + 8.
    monkeypatch.setattr(numpy_runtime, "CHUNK", 64)
    monkeypatch.setattr(numpy_runtime, "_CHUNK_FLOATS", 100)
    assert numpy_runtime.chunk_size(4) == 16
    sizes: list[int] = []
    real = numpy_runtime._arena

    def arena(spec: numpy_runtime.Spec, count: int) -> dict[str, Any]:
        sizes.append(count)
        return real(spec, count)

    monkeypatch.setattr(numpy_runtime, "_arena", arena)
    sample_loss, params = mlp(3)
    rows = moons(40, 3)
    want_total, want = eager(sample_loss, params, rows)
    total, got = compiled(sample_loss, params, np.array(rows))
    assert sizes == [16, 8]  # an arena per chunk size
    assert close(total, want_total)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def test_without_the_probed_maximum_relu_is_printed_from_its_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where numpy's maximum does not give the table's relu (the probe found no order of its
    operands that does), relu is printed from its tree, with the same results."""
    from microgrsucc.compiler import numpy_layers

    monkeypatch.setattr(numpy_layers, "RELU", None)
    sample_loss, params = mlp(4)
    rows = moons(30, 3)
    assert "np.maximum" not in mg.compile(sample_loss, params, backend="numpy").source(3)
    want_total, want = eager(sample_loss, params, rows)
    total, got = compiled(sample_loss, params, np.array(rows))
    assert close(total, want_total)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)
