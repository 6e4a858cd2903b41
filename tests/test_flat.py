"""microgrsucc.flat: a FlatParameter's views give the numbers plain Values give, bit for bit.

The oracle is the same computation on plain Values: a view reads and writes the same floats,
so eager mode, backward and compile must agree exactly, not to a tolerance.
"""

from __future__ import annotations

import copy
import math
import pickle
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import FlatParameter, Value
from microgrsucc.flat import ParameterView
from microgrsucc.forward import Dual
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


# --- accumulate: what backward() does to each Value, in one operation -------------------------

GRADIENTS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0])


@settings(deadline=None)
@given(data=st.data())
def test_accumulate_adds_where_a_gradient_is_and_writes_where_none_is(data: st.DataObject) -> None:
    """Against each plain Value's ``p.grad = a * g if p.grad is None else p.grad + a * g``:
    every element with a gradient, none, or some; all the positions in order, or some of
    them; the factor ``alpha`` 1.0 or another (a batch's mean)."""
    n = data.draw(st.integers(1, 8), label="n")
    has = data.draw(
        st.sampled_from([[True] * n, [False] * n]) | st.lists(st.booleans(), min_size=n, max_size=n),
        label="has a gradient",
    )
    old = [data.draw(GRADIENTS) if h else None for h in has]
    index = data.draw(
        st.none() | st.permutations(range(n)).flatmap(lambda p: st.integers(0, n).map(lambda k: p[:k])),
        label="index",
    )
    positions = range(n) if index is None else index
    g = [data.draw(GRADIENTS) for _ in positions]
    alpha = data.draw(st.sampled_from([1.0, 0.01, -2.5]) | GRADIENTS, label="alpha")
    plain, viewed, flat = twins((1.0,) * n)
    for p, q, o in zip(plain, viewed, old, strict=True):
        p.grad = q.grad = o
    for i, gi in zip(positions, g, strict=True):
        plain[i].grad = alpha * gi if plain[i].grad is None else plain[i].grad + alpha * gi
    given = np.array(g, dtype=np.float64)
    flat.accumulate(None if index is None else np.array(index, dtype=np.intp), given, alpha)
    assert [repr(x) for x in given.tolist()] == [repr(x) for x in g]  # not written
    assert [repr(p.grad) for p in viewed] == [repr(p.grad) for p in plain]
    assert flat.has_grad.tolist() == [p.grad is not None for p in plain]


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
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@pytest.mark.parametrize(
    "backend",
    [
        *BACKENDS,
        pytest.param("numba", marks=[pytest.mark.numba, pytest.mark.slow]),  # seconds to compile
        pytest.param("jax", marks=[pytest.mark.jax, pytest.mark.slow]),
    ],
)
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


def test_assigning_the_whole_gradient_sets_every_element_or_clears_them() -> None:
    w, b = Value(1.0), Value(2.0)
    flat = FlatParameter([w, b])
    flat.grad = [0.5, -0.0]
    assert (w.grad, repr(b.grad)) == (0.5, "-0.0") and flat.has_grad.all()
    flat.grad = None  # as torch's p.grad = None
    assert (w.grad, b.grad) == (None, None) and not flat.has_grad.any()
    with pytest.raises(ValueError, match=r"FlatParameter.grad: expected an array of shape \(2,\)"):
        flat.grad = [1.0]


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
        (lambda: MLP(2, [1]), TypeError, r"params must be a list of Values, .* got MLP"),
        (lambda: Value(1.0), TypeError, r"params must be a list of Values, .* got Value"),
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


# --- a view meets a Dual or a Tracer: the operand that carries more applies the op ------------


OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}


@pytest.mark.parametrize("name", OPERATORS)
def test_a_view_on_the_left_of_an_operator_keeps_a_duals_tangent(name: str) -> None:
    """Python asks a Dual's reflected method first only when its class derives from the left
    operand's; a view's class is a subclass of Value, so the view's own method was asked and
    read the Dual as its value alone: a Value, the tangent lost."""
    plain, viewed, _ = twins((0.7,))
    want = OPERATORS[name](plain[0], Dual(1.3, 1.0))
    got = OPERATORS[name](viewed[0], Dual(1.3, 1.0))
    assert type(got) is type(want) is Dual
    assert same(got.data, want.data) and same(got.tangent, want.tangent)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_view_outside_the_compiled_parameters_is_a_constant_of_the_loss(backend: str) -> None:
    """``v * x`` with ``v`` a view that is not a parameter of the step and ``x`` a sample
    argument: the Tracer applies the op, as it does for a plain Value."""
    results = []
    for flat in (False, True):
        w, v = Value(2.0), Value(0.5)
        if flat:
            FlatParameter([w, v])
        step = mg.compile(lambda x, v=v, w=w: (v * x - w) ** 2, [w], backend=backend)
        results.append((step(3.0), step.backward([(3.0,), (1.0,)]), w.grad, v.grad))
    assert results[1] == results[0]


# --- copies of a FlatParameter ------------------------------------------------------------------


COPIES = {"deepcopy": copy.deepcopy, "pickle": lambda x: pickle.loads(pickle.dumps(x))}


@pytest.mark.parametrize("make", COPIES.values(), ids=list(COPIES))
def test_a_copy_of_a_model_holding_its_flat_parameter_keeps_them_joined(make: Any) -> None:
    """The copy's arrays are its own parameters' storage: a step on them moves the copied
    model (before, the copy's Values were plain and its arrays stood beside them)."""
    model = MLP(2, [3, 1], seed=0)
    model.flat = FlatParameter(model.parameters())  # type: ignore[attr-defined]
    model.parameters()[0].grad = 0.25
    saved = [p.data for p in model.parameters()]
    other = make(model)
    flat = other.flat
    assert flat.params == other.parameters() and all(type(p) is ParameterView for p in flat.params)
    assert flat.data.tolist() == saved and flat.grad[0] == 0.25 and flat.has_grad.sum() == 1
    flat.data -= 1.0
    assert [p.data for p in other.parameters()] == [x - 1.0 for x in saved]
    assert [p.data for p in model.parameters()] == saved  # the original is its own


@pytest.mark.parametrize("make", [copy.copy, *COPIES.values()], ids=["copy", *COPIES])
def test_a_copy_of_an_unflattened_flat_parameter_stays_unflattened(make: Any) -> None:
    flat = FlatParameter([Value(1.0), Value(2.0)])
    flat.unflatten()
    other = make(flat)
    assert "unflattened" in repr(other) and all(type(p) is Value for p in other.params)
    assert other.data.tolist() == [1.0, 2.0]


def test_a_shallow_copy_of_a_flat_parameter_shares_its_arrays() -> None:
    w = Value(1.0)
    flat = FlatParameter([w])
    other = copy.copy(flat)
    other.data[0] = 3.0
    assert other.params == [w] and w.data == 3.0 and flat.data is other.data


# --- what may be written through a view -----------------------------------------------------------

BAD_NUMBERS = {"None": None, "str": "1.5", "list": [1.0], "Value": Value(2.0), "bool": True, "complex": 1j}


@pytest.mark.parametrize("field", ["data", "grad"])
@pytest.mark.parametrize("bad", BAD_NUMBERS.values(), ids=list(BAD_NUMBERS))
def test_a_view_refuses_what_is_not_a_real_number_and_changes_nothing(field: str, bad: Any) -> None:
    """numpy's float conversion took ``p.data = None`` as NaN and ``"1.5"`` as 1.5, silently."""
    if field == "grad" and (bad is None or isinstance(bad, Value)):
        return  # grad None is no gradient; a Value gradient is a graph (create_graph=True)
    w = Value(1.0)
    flat = FlatParameter([w])
    w.grad = 0.5
    with pytest.raises(TypeError, match=f"{field} expects a real number, got {type(bad).__name__}"):
        setattr(w, field, bad)
    assert (w.data, w.grad) == (1.0, 0.5) and flat.has_grad.tolist() == [True]


@pytest.mark.parametrize("number", [3, Fraction(1, 3), np.float32(0.1), np.int64(-2), 1e308 * 10])
def test_a_view_holds_a_number_written_to_it_as_value_converts_it(number: Any) -> None:
    w = Value(1.0)
    FlatParameter([w])
    w.data = number
    w.grad = number
    assert same(w.data, Value(number).data) and same(w.grad, Value(number).data)


@pytest.mark.parametrize(
    "bad", [[None, None], ["1", "2"], [True, False], [1j, 2.0], [Value(1.0), 2.0]], ids=repr
)
def test_flat_data_refuses_an_array_of_what_is_not_real_numbers(bad: Any) -> None:
    """``flat.data = [None, None]`` was stored as NaN, ``["1", "2"]`` as numbers, silently."""
    flat = FlatParameter([Value(1.0), Value(2.0)])
    with pytest.raises(TypeError, match=r"FlatParameter\.data: expected real numbers, got"):
        flat.data = bad
    assert flat.data.tolist() == [1.0, 2.0]
    flat.data = np.array([3, 4], dtype=np.int8)  # integers and other floats are numbers
    assert [p.data for p in flat.params] == [3.0, 4.0]


@pytest.mark.parametrize(("field", "bad"), [("data", None), ("data", "1.5"), ("grad", "1.5")])
def test_flattening_values_holding_what_is_not_a_number_is_refused_and_leaves_them_plain(
    field: str, bad: Any
) -> None:
    """A plain Value stores what is assigned to it; numpy would have made None NaN."""
    a, b = Value(1.0), Value(2.0)
    setattr(b, field, bad)
    with pytest.raises(TypeError, match=rf"FlatParameter: params\[1\]\.{field} expects a real number"):
        FlatParameter([a, b])
    assert type(a) is Value and type(b) is Value and a.data == 1.0 and getattr(b, field) == bad


# --- compiled steps over some of a FlatParameter's views, in another order --------------------

LAYOUTS = {
    "reversed": lambda ps: ([ps], ps[::-1]),
    "a subset": lambda ps: ([ps], ps[3:9]),
    "two flat parameters": lambda ps: ([ps[:5], ps[5:]], ps),
    "a flat parameter of some": lambda ps: ([ps[2:]], ps),
    "views and a plain value": lambda ps: ([ps], [*ps, Value(0.3)]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=list(LAYOUTS))
def test_a_step_over_views_in_any_layout_equals_one_over_plain_values(backend: str, layout: Any) -> None:
    """Positions gathered from the arrays (not all, not in order, or not one FlatParameter)."""
    results = []
    for flatten in (False, True):
        model = MLP(2, [3, 1], seed=0)
        held, params = layout(model.parameters())
        if flatten:
            for some in held:
                FlatParameter(some)
        step = mg.compile(lambda x0, x1, y, m=model: (m([x0, x1]) - y) ** 2, params, backend=backend)
        params[0].grad = 0.5  # a gradient there already
        got = []
        for reduction in ("mean", "sum"):
            got.append(step.backward([(0.5, -1.0, 1.0), (2.0, 0.25, -1.0)], reduction=reduction))
            with mg.no_grad():
                for p in params:
                    if p.grad is not None:
                        p -= 0.1 * p.grad
            got.append(step(0.5, 0.5, 0.5))
        results.append((got, [(p.data, p.grad) for p in [*model.parameters(), *params]]))
    assert repr(results[1]) == repr(results[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_compile_takes_a_flat_parameter_as_the_optimizers_do(backend: str) -> None:
    """``mg.compile(loss, flat)`` is ``mg.compile(loss, flat.params)`` (it was a TypeError
    while ``optim.SGD(flat)`` took it)."""
    w, b = Value(2.0), Value(0.5)
    flat = FlatParameter([w, b])
    step = mg.compile(lambda x: (w * x + b) ** 2, flat, backend=backend)
    assert step.params == [w, b]
    assert step.backward([(1.0,), (2.0,)], reduction="sum") == 6.25 + 20.25  # (2.5)² + (4.5)²
    assert flat.grad.tolist() == [2 * 2.5 + 2 * 4.5 * 2.0, 2 * 2.5 + 2 * 4.5]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_loss_that_reads_the_flat_array_is_guarded_as_one_reading_the_views(backend: str) -> None:
    """A branch on ``flat.data[0]`` was traced once and replayed after the array changed."""
    w = Value(1.0)
    flat = FlatParameter([w])
    step = mg.compile(lambda x: w * x if flat.data[0] > 0 else -w * x, [w], backend=backend)
    assert step(2.0) == 2.0
    flat.data[0] = -1.0
    assert step(2.0) == 2.0 and step.backward([(2.0,)]) == 2.0 and w.grad == -2.0  # -w * x


# --- the arrays edited or read as a whole, against the same edits of plain Values --------------


def test_scaling_grad_in_place_keeps_the_missing_gradients_missing() -> None:
    # flat.grad *= 0.5 (clipping, accumulation steps): the unused parameter's grad stays None,
    # so AdamW leaves it alone, as for plain Values scaled one by one.
    results = []
    for flatten in (False, True):
        used, unused = Value(1.0), Value(2.0)
        flat = FlatParameter([used, unused]) if flatten else None
        opt = mg.optim.AdamW(flat if flat else [used, unused], lr=0.1, weight_decay=0.5)
        (used * 3.0).backward()
        if flat is not None:
            flat.grad *= 0.5
        else:
            used.grad *= 0.5
        opt.step()
        results.append((used.grad, unused.grad, used.data, unused.data))
    plain, viewed = results
    assert all(same(a, b) for a, b in zip(plain, viewed, strict=True)), (plain, viewed)


def test_a_gradient_graph_edited_in_place_is_what_the_arrays_hold() -> None:
    results = []
    for flatten in (False, True):
        w = Value(2.0)
        flat = FlatParameter([w]) if flatten else None
        opt = mg.optim.SGD(flat if flat else [w], lr=0.1)
        (w * w).backward(create_graph=True)  # w.grad is a Value, 4.0
        w.grad.data = 0.5
        if flat is not None:
            assert flat.grad.tolist() == [0.5]
        opt.step()
        results.append(w.data)
    assert results[0] == results[1] == 2.0 - 0.1 * 0.5


def test_a_compiled_step_that_fails_leaves_graph_gradients_of_views_untouched() -> None:
    # A sum that overflows under detect_anomaly: nothing is written, as for plain Values.
    for flatten in (False, True):
        a, b = Value(1.0), Value(1.0)
        if flatten:
            FlatParameter([a, b])
        (a * 2.0 + b * 1e308).backward(create_graph=True)
        step = mg.compile(lambda x, a=a, b=b: a * 1.0 + b * x, [a, b])
        with pytest.raises(FloatingPointError), mg.detect_anomaly():
            step.backward([(1e308,)], reduction="sum")
        assert (a.grad.data, b.grad.data) == (2.0, 1e308), flatten


def test_accumulate_refuses_gradients_of_another_shape() -> None:
    flat = FlatParameter([Value(1.0), Value(2.0), Value(3.0)])
    with pytest.raises(ValueError, match=r"accumulate: expected gradients of shape \(3,\), got \(1,\)"):
        flat.accumulate(None, np.array([5.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\), got \(3,\)"):
        flat.accumulate(np.array([0, 2]), np.array([1.0, 2.0, 3.0]))
    assert flat.has_grad.tolist() == [False, False, False]


def test_data_from_a_list_takes_each_number_as_value_does() -> None:
    flat = FlatParameter([Value(1.0), Value(2.0)])
    flat.data = [2**70, Fraction(1, 3)]
    assert flat.data.tolist() == [Value(2**70).data, Value(Fraction(1, 3)).data]
    with pytest.raises(TypeError, match=r"FlatParameter\.data: expected real numbers, got bool at \[0\]"):
        flat.data = [True, 2.0]
    with pytest.raises(TypeError, match="expected real numbers, got an array of bool"):
        flat.data = np.array([True, False])
    assert flat.data.tolist() == [Value(2**70).data, Value(Fraction(1, 3)).data]


class Named(FlatParameter):
    def __init__(self, params: list[Value], name: str) -> None:
        super().__init__(params)
        self.name = name


@pytest.mark.parametrize("release", [False, True])
def test_copies_of_a_subclass_keep_its_class_and_attributes(release: bool) -> None:
    flat = Named([Value(1.0), Value(2.0)], "encoder")
    if release:
        flat.unflatten()
    for copied in (pickle.loads(pickle.dumps(flat)), copy.deepcopy(flat), copy.copy(flat)):
        assert type(copied) is Named and copied.name == "encoder"
        assert copied.data.tolist() == [1.0, 2.0]


def test_views_are_found_while_compile_traces_them() -> None:
    # The trace gives the parameters a subclass that records their reads while the loss runs.
    w, b = Value(1.0), Value(0.0)
    flat = FlatParameter([w, b])
    seen = []

    def loss(x: Any) -> Value:
        seen.append((mg.flat.owner(w) is flat, mg.flat.flat_of([w, b]) is not None))
        return w * x + b

    step = mg.compile(loss, flat)
    step.backward([(2.0,)])
    assert seen == [(True, True)]
    assert (w.grad, b.grad) == (2.0, 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_step_compiled_for_a_flat_parameter_follows_its_values_after_unflatten(backend: str) -> None:
    # compile(loss, flat) keeps flat's Values: plain again, or views of a new FlatParameter.
    w, b = Value(1.5), Value(-0.5)
    flat = FlatParameter([w, b])
    step = mg.compile(lambda x: (w * x + b) ** 2, flat, backend=backend)
    samples = np.array([[2.0], [-1.0]]) if backend != "python" else [(2.0,), (-1.0,)]
    expected = [2 * (1.5 * x + -0.5) * x for x in (2.0, -1.0)], [2 * (1.5 * x + -0.5) for x in (2.0, -1.0)]
    for again in (lambda: None, flat.unflatten, lambda: FlatParameter([b, w])):
        again()
        w.grad = b.grad = None
        step.backward(samples, reduction="sum")
        assert (w.grad, b.grad) == (sum(expected[0]), sum(expected[1]))
