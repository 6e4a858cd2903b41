"""microgrsucc.flat: a FlatParameter's views give the numbers plain Values give, bit for bit.

The oracle is the same computation on plain Values: a view reads and writes the same floats,
so eager mode, backward and compile must agree exactly, not to a tolerance.
"""

from __future__ import annotations

import copy
import math
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import FlatParameter, Value
from microgrsucc.flat import ParameterView
from microgrsucc.nn import MLP
from microgrsucc.testing.strategies import Graph, graphs

np = pytest.importorskip("numpy")

BACKENDS = ["python", "numpy"]


def same(a: Any, b: Any) -> bool:
    """Equal as floats, NaN equal to NaN and 0.0 apart from -0.0 (None equal to None)."""
    if a is None or b is None:
        return a is b
    return repr(float(a)) == repr(float(b))


def twins(values: tuple[float, ...]) -> tuple[list[Value], list[Value], FlatParameter]:
    """Plain Values and views of a FlatParameter holding the same numbers."""
    plain = [Value(x) for x in values]
    viewed = [Value(x) for x in values]
    return plain, viewed, FlatParameter(viewed)


# --- eager mode and backward: views compute what plain Values compute -------------------------


def check_eager(f: Graph, split: int) -> None:
    plain, viewed, flat = twins(f.inputs[:split])
    sample = f.inputs[split:]
    results = []
    for params in (plain, viewed):
        try:
            out = f(*params, *sample)
            out.backward()
        except (ArithmeticError, ValueError) as err:
            results.append(type(err))
            continue
        results.append((out.data, [p.grad for p in params]))
    if isinstance(results[0], type):
        assert results[1] is results[0]
        return
    (want, want_grads), (got, got_grads) = results  # type: ignore[misc]
    assert same(got, want)
    assert all(same(g, w) for g, w in zip(got_grads, want_grads, strict=True))
    assert all(
        same(g, w)
        for g, w in zip(flat.grad.tolist(), [0.0 if w is None else w for w in want_grads], strict=True)
    )
    assert flat.has_grad.tolist() == [w is not None for w in want_grads]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=graphs(max_ops=6), data=st.data())
def test_eager_ops_and_backward_on_views_equal_plain_values(f: Graph, data: st.DataObject) -> None:
    check_eager(f, data.draw(st.integers(0, len(f.inputs))))


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=graphs(max_ops=8, max_inputs=4), data=st.data())
def test_thousands_of_graphs_on_views_equal_plain_values(f: Graph, data: st.DataObject) -> None:
    check_eager(f, data.draw(st.integers(0, len(f.inputs))))


# --- compile: the arrays are read and written whole, with the same numbers --------------------


def check_compiled(f: Graph, split: int, backend: str, reduction: str) -> None:
    plain, viewed, flat = twins(f.inputs[:split])
    sample = f.inputs[split:]
    samples = [sample, tuple(x * 0.999 + 1e-3 for x in sample)]
    results = []
    for params in (plain, viewed):
        for k, p in enumerate(params):
            p.grad = None if k % 2 else 0.5  # a gradient there already, or none
        step = mg.compile(lambda *args, params=params: f(*params, *args), params, backend=backend)
        try:
            total = step.backward(samples, reduction=reduction)
        except (ArithmeticError, ValueError) as err:
            results.append((type(err), str(err), [p.grad for p in params]))
            continue
        results.append((total, [p.grad for p in params], step(*sample)))
    want, got = results
    assert same(got[0], want[0]) if isinstance(want[0], float) else got[0] is want[0]
    assert got[1] == want[1] if isinstance(want[1], str) else all(map(same, got[1], want[1]))
    assert all(map(same, got[2], want[2])) if isinstance(want[2], list) else same(got[2], want[2])
    if split:
        assert flat.has_grad.tolist() == [p.grad is not None for p in plain]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=graphs(max_ops=6), data=st.data())
def test_compiled_steps_on_views_equal_those_on_plain_values(
    backend: str, f: Graph, data: st.DataObject
) -> None:
    split = data.draw(st.integers(0, len(f.inputs)))
    check_compiled(f, split, backend, data.draw(st.sampled_from(["mean", "sum"])))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=graphs(max_ops=8, max_inputs=4), data=st.data())
def test_thousands_of_compiled_steps_on_views_equal_plain_values(
    backend: str, f: Graph, data: st.DataObject
) -> None:
    split = data.draw(st.integers(0, len(f.inputs)))
    check_compiled(f, split, backend, data.draw(st.sampled_from(["mean", "sum"])))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_mlp_trained_through_its_flat_arrays_follows_the_plain_model(backend: str) -> None:
    """Steps taken on the arrays (``flat.data -= lr * flat.grad``) equal per-Value SGD steps."""
    plain, viewed = MLP(2, [8, 8, 1], seed=3), MLP(2, [8, 8, 1], seed=3)
    flat = FlatParameter(viewed.parameters())
    samples = [(0.5, -1.0, 1.0), (2.0, 0.25, -1.0), (-1.5, 1.0, 1.0)]

    def step_for(model: MLP) -> Any:
        params = model.parameters()

        def sample_loss(x0: Any, x1: Any, y: Any) -> Value:
            return (1 - y * model([x0, x1])).relu() + 1e-3 * sum(p * p for p in params)  # type: ignore[operator]

        return mg.compile(sample_loss, params, backend=backend)

    plain_step, flat_step = step_for(plain), step_for(viewed)
    plain_opt = mg.optim.SGD(plain.parameters(), lr=0.1)
    for _ in range(3):
        plain_opt.zero_grad()
        want = plain_step.backward(samples)
        plain_opt.step()
        flat.zero_grad()
        got = flat_step.backward(samples)
        flat.data -= 0.1 * flat.grad
        assert same(got, want)
    assert [p.data for p in viewed.parameters()] == [p.data for p in plain.parameters()]
    if backend == "numpy":  # nn.MLP keeps each layer's weights in order: views of the vector
        assert "np.take" not in flat_step.source(3)


# --- what a view is, and what it is not -------------------------------------------------------


def test_views_read_and_write_the_arrays() -> None:
    w, b = Value(2.0, label="w"), Value(0.5)
    flat = FlatParameter([w, b])
    assert isinstance(w, Value) and type(w) is ParameterView and flat.params == [w, b]
    flat.data[0] = 3.0
    assert w.data == 3.0 and type(w.data) is float
    b.data = 1.25
    assert flat.data.tolist() == [3.0, 1.25]
    flat.data = [1.0, 2.0]  # a whole array of the same shape
    assert (w.data, b.data) == (1.0, 2.0)
    assert w.grad is None and not flat.has_grad.any()
    w.grad = 4.0
    assert flat.grad.tolist() == [4.0, 0.0] and flat.has_grad.tolist() == [True, False]
    assert repr(w) == "Value(data=1.0, grad=4.0, label='w')"
    flat.zero_grad(set_to_none=False)
    assert (w.grad, b.grad) == (0.0, None)  # as zero_grad: a None stays None
    flat.zero_grad()
    assert (w.grad, b.grad) == (None, None)


def test_in_place_updates_under_no_grad_write_the_array() -> None:
    """``p -= lr * p.grad`` under no_grad changes a plain Value in place: a view too."""
    params = [Value(1.0), Value(2.0)]
    flat = FlatParameter(params)
    (params[0] * params[1]).backward()
    with mg.no_grad():
        for p in params:
            p -= 0.5 * p.grad
    assert flat.data.tolist() == [0.0, 1.5] and [type(p) for p in params] == [ParameterView] * 2
    with pytest.raises(TypeError, match="made by FlatParameter"):
        ParameterView(1.0)


def test_a_gradient_graph_from_create_graph_is_kept_with_its_value() -> None:
    x = Value(3.0)
    flat = FlatParameter([x])
    (x * x * x).backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 27.0 and flat.grad.tolist() == [27.0]
    g = x.grad
    flat.zero_grad()
    g.backward()  # d/dx of 3x² is 6x
    assert x.grad == 18.0


def test_copies_and_pickles_are_plain_values_that_share_nothing() -> None:
    w = Value(2.0, label="w")
    flat = FlatParameter([w])
    w.grad = 1.5
    y = w * 3.0
    for made in (copy.copy(w), copy.deepcopy(w), pickle.loads(pickle.dumps(w))):
        assert type(made) is Value and (made.data, made.grad, made.label) == (2.0, 1.5, "w")
        made.data = 9.0
        assert flat.data.tolist() == [2.0]
    saved = pickle.loads(pickle.dumps(y))
    assert type(saved.inputs[0]) is Value and saved.inputs[0].data == 2.0
    saved.backward()
    assert saved.inputs[0].grad == 4.5 and w.grad == 1.5


def test_unflatten_makes_plain_values_holding_the_current_numbers() -> None:
    w, b = Value(2.0), Value(0.5)
    flat = FlatParameter([w, b])
    flat.data *= 2.0
    w.grad = 3.0
    flat.unflatten()
    assert type(w) is Value and (w.data, w.grad, b.data, b.grad) == (4.0, 3.0, 1.0, None)
    flat.data[0] = 100.0
    assert w.data == 4.0
    assert "unflattened" in repr(flat)
    FlatParameter([w, b])  # and they may be flattened again


def test_a_compiled_step_follows_a_flatten_after_it_was_made() -> None:
    w = Value(2.0)
    step = mg.compile(lambda x: (w * x) ** 2, [w], backend="python")
    assert step.backward([(1.0,)]) == 4.0 and w.grad == 4.0
    flat = FlatParameter([w])
    flat.data[0] = 3.0
    assert step.backward([(1.0,)]) == 9.0 and w.grad == 10.0 and flat.grad.tolist() == [10.0]
    flat.unflatten()
    w.data = 1.0
    assert step.backward([(1.0,)]) == 1.0 and w.grad == 12.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_view_read_by_the_loss_is_guarded_as_a_value_is(backend: str) -> None:
    """The loss branches on ``w.data``: changing it through the array retraces."""
    w = Value(1.0)
    flat = FlatParameter([w])
    step = mg.compile(lambda x: w * x if w.data > 0 else -w * x, [w], backend=backend)
    assert step.backward([(2.0,)]) == 2.0
    flat.data[0] = -1.0
    assert step.backward([(2.0,)]) == 2.0 and w.grad == 0.0  # 2, then -2: the other branch


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: [Value(1.0), 2.0], TypeError, r"params\[1\] must be a Value, got float"),
        (lambda: [Value(1.0) + 1], ValueError, r"params\[0\] is not a leaf \(it is the result of \+\)"),
        (lambda: [v := Value(1.0), v], ValueError, r"params\[1\] appears more than once"),
    ],
)
def test_bad_parameters_are_refused_naming_the_entry(make: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        FlatParameter(make())


def test_a_value_is_a_view_of_one_flat_parameter_at_a_time() -> None:
    w = Value(1.0)
    flat = FlatParameter([w])
    with pytest.raises(ValueError, match=r"params\[0\] is a view of a FlatParameter already"):
        FlatParameter([w])
    assert flat.params == [w] and w.data == 1.0  # nothing half-done
    with pytest.raises(ValueError, match=r"FlatParameter.data: expected an array of shape \(1,\)"):
        flat.data = [1.0, 2.0]


def test_a_failed_flatten_leaves_every_value_plain() -> None:
    a, b = Value(1.0), Value(2.0)
    with pytest.raises(ValueError):
        FlatParameter([a, b, a])
    assert type(a) is Value and type(b) is Value and math.isclose(a.data + b.data, 3.0)
