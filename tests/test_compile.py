"""microgrsucc.compile: the generated code agrees with the eager engine, or hands over to it."""

from __future__ import annotations

import gc
import math
import re
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, custom_op, ops
from microgrsucc.backward import below
from microgrsucc.custom_ops import CustomOp
from microgrsucc.datasets import make_moons
from microgrsucc.nn import MLP
from microgrsucc.optim import SGD, Adam
from microgrsucc.testing.strategies import Graph, graphs

if TYPE_CHECKING:  # the fixture's type, for readers and editors
    from conftest import PackageCopy

BACKENDS = ["python", "numpy"]
TOLERANCE = {"python": 1e-12, "numpy": 1e-10}


def eager(
    sample_loss: Callable[..., Value],
    params: Sequence[Value],
    samples: Sequence[Sequence[float]],
    mean: bool = True,
) -> tuple[float, list[float]]:
    """The whole graph, built and differentiated by the eager engine."""
    total, grads, _ = eager_with_scales(sample_loss, params, samples, mean)
    return total, grads


def eager_with_scales(
    sample_loss: Callable[..., Value],
    params: Sequence[Value],
    samples: Sequence[Sequence[float]],
    mean: bool = True,
) -> tuple[float, list[float], tuple[float, float]]:
    """Also the largest value and the largest gradient in the graph: where a result cancels,
    another summation order (or numpy's exp, an ulp from math's) can move it by that much."""
    saved = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    try:
        losses = [sample_loss(*s) for s in samples]
        total = sum(losses[1:], losses[0])
        if mean:
            total = total / len(losses)
        total.backward()
        grads = [p.grad for p in params]
        nodes = below(total)
        values = [abs(v.data) for v in nodes if math.isfinite(v.data)]
        slopes = [abs(v.grad) for v in nodes if math.isfinite(v.grad)]
    finally:  # a domain error leaves the parameters' grads as they were
        for p, g in zip(params, saved, strict=True):
            p.grad = g
    return total.data, grads, (max(values, default=0.0), max(slopes, default=0.0))


def compiled(
    step: mg.compiler.CompiledLoss, samples: Any, reduction: str = "mean"
) -> tuple[float, list[float]]:
    for p in step.params:
        p.grad = 0.0
    total = step.backward(samples, reduction=reduction)
    return total, [p.grad for p in step.params]


def assert_close(got: Sequence[float], want: Sequence[float], tol: float) -> None:
    """Equal to ``tol`` relative to the largest gradient: sums over samples may run in another order."""
    scale = max([abs(w) for w in want if math.isfinite(w)] + [1e-300])
    for g, w in zip(got, want, strict=True):
        if math.isnan(w):
            assert math.isnan(g)
        else:
            assert abs(g - w) <= tol * max(abs(w), scale), (g, w)


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the batches handed to the eager engine: generated code that fails is hidden there."""
    count: list[int] = []
    original = mg.compiler.eager.replay

    def counted(*args: Any, **kwargs: Any) -> Any:
        count.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(mg.compiler.eager, "replay", counted)
    return count


def moons_problem(seed: int = 0) -> tuple[MLP, Callable[..., Value], list[tuple[float, float, int]]]:
    model = MLP(2, [16, 16, 1], seed=seed)
    params = model.parameters()

    def sample_loss(x0: Any, x1: Any, t: Any) -> Value:
        score: Value = model([x0, x1])  # type: ignore[assignment]
        return (1 - t * score).relu() + 1e-4 * sum(p * p for p in params)

    xs, ys = make_moons(100, noise=0.1, seed=seed)
    return model, sample_loss, [(a, b, 2 * c - 1) for (a, b), c in zip(xs, ys, strict=True)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_mlp_gives_the_eager_loss_and_gradients_on_new_data_and_after_updates(
    backend: str, replays: list[int]
) -> None:
    model, sample_loss, samples = moons_problem()
    params = model.parameters()
    step = mg.compile(sample_loss, params, backend=backend)
    optimizer = Adam(params, lr=0.05)
    _, _, other = moons_problem(seed=7)
    for batch in (samples, other[:37], samples[:1]):
        want_total, want = eager(sample_loss, params, batch)
        total, got = compiled(step, batch)
        assert math.isclose(total, want_total, rel_tol=TOLERANCE[backend])
        assert_close(got, want, TOLERANCE[backend])
        optimizer.step()  # the next batch sees new parameter values
    assert step(*samples[3]) == pytest.approx(sample_loss(*samples[3]).data, rel=1e-14)
    assert not replays  # all of it ran in generated code


def test_sum_reduction_and_gradients_add_up_as_in_backward() -> None:
    w, b = Value(0.5), Value(-1.0)
    step = mg.compile(lambda x, y: (w * x + b - y) ** 2, [w, b])
    samples = [(1.0, 2.0), (3.0, -1.0)]
    w.grad = 1.0  # gradients accumulate, as backward() does
    total = step.backward(samples, reduction="sum")
    want_total, (dw, db) = eager(lambda x, y: (w * x + b - y) ** 2, [w, b], samples, mean=False)
    assert total == want_total and w.grad == 1.0 + dw and b.grad == db


def test_an_optimizer_between_calls_trains_as_eager_does() -> None:
    _, _, samples = moons_problem()
    runs = []
    for use_compile in (False, True):
        model = MLP(2, [16, 16, 1], seed=0)
        params = model.parameters()

        def loss(x0: Any, x1: Any, t: Any, model: MLP = model, params: list[Value] = params) -> Value:
            score: Value = model([x0, x1])  # type: ignore[assignment]
            return (1 - t * score).relu() + 1e-4 * sum(p * p for p in params)

        step = mg.compile(loss, params)
        optimizer = SGD(params, lr=0.1, momentum=0.9)
        for _ in range(5):
            optimizer.zero_grad()
            if use_compile:
                step.backward(samples[:20])
            else:
                eager_total = sum(loss(*s) for s in samples[:20]) / 20
                eager_total.backward()  # type: ignore[union-attr]
            optimizer.step()
        runs.append([p.data for p in params])
    assert_close(runs[1], runs[0], 1e-11)


# --- random graphs over the whole table ---------------------------------------------------------


MATH_FUNCTIONS = {name for name in dir(math) if callable(getattr(math, name))}


def check_graph(f: Graph, split: int, backend: str) -> None:
    """The graph's first ``split`` inputs are parameters, the rest one sample's arguments."""
    params = [Value(x) for x in f.inputs[:split]]
    sample = f.inputs[split:]

    def sample_loss(*args: Any) -> Value:
        return f(*params, *args)

    samples = [sample, tuple(x * 0.999 + 1e-3 for x in sample)]
    step = mg.compile(sample_loss, params, backend=backend)
    try:
        want_total, want, (values, slopes) = eager_with_scales(sample_loss, params, samples)
    except (ArithmeticError, ValueError) as err:  # the second sample left a domain
        with pytest.raises(type(err)) as raised:
            compiled(step, samples)
        assert str(raised.value) == str(err)
        assert all(p.grad == 0.0 for p in params)  # nothing half-done: as `compiled` left them
        return
    tol = TOLERANCE[backend]

    def agrees(total: float, got: list[float]) -> bool:
        return (
            not math.isfinite(want_total)
            or math.isclose(total, want_total, rel_tol=tol, abs_tol=tol * values)
        ) and all(
            g == pytest.approx(w, rel=tol, abs=tol * slopes * max(1.0, values), nan_ok=True)
            for g, w in zip(got, want, strict=True)
        )

    total, got = compiled(step, samples)
    if backend == "numpy" and not agrees(total, got):
        # numpy's exp, expm1, tanh... may be an ulp from math's (docs/compile.md), and a graph
        # may aim an operand exactly at a jump with math's values (fmod's, at a multiple of the
        # divisor), where that ulp moves the result by a whole step. With math's functions
        # applied per element the same generated code must agree: the trees and the printer
        # are right, only the functions' last bit differed.
        from microgrsucc.compiler import numpy_printer

        with mock.patch.object(numpy_printer, "_ELEMENTWISE", MATH_FUNCTIONS):
            step = mg.compile(sample_loss, params, backend=backend)
            total, got = compiled(step, samples)
    if math.isfinite(want_total):
        assert math.isclose(total, want_total, rel_tol=tol, abs_tol=tol * values)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=tol, abs=tol * slopes * max(1.0, values), nan_ok=True)
    if backend == "python":  # the same float ops in the same order as the eager forward
        assert step(*sample) == pytest.approx(sample_loss(*sample).data, rel=1e-15, nan_ok=True)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=graphs(max_ops=6), data=st.data())
def test_random_graphs_agree_with_eager(backend: str, f: Graph, data: st.DataObject) -> None:
    check_graph(f, data.draw(st.integers(0, len(f.inputs))), backend)


def graph(inputs: tuple[float, ...], *steps: tuple[str, tuple[tuple[int, float, float], ...]]) -> Graph:
    """A graph by hand: each step an op of the table and its operands (node, scale, offset)."""
    return Graph(inputs, tuple((CustomOp(ops.PRIMITIVES[name]), operands) for name, operands in steps))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("f", "split"),
    [
        # The second sample leaves asin's domain: the error is eager mode's, the grads untouched.
        (
            graph(
                (0.0, 0.0),
                ("remainder", ((1, 1, 0), (0, 1, -2))),
                ("asin", ((2, 1, 0),)),
                ("+", ((3, 1, 0), (0, 1, 0))),
            ),
            1,
        ),
        # fmod's operand is exactly 1.0, its divisor, with math's expm1 in elu; numpy's expm1
        # is an ulp lower there (0.9999999999999999), a whole step of fmod away.
        (graph((0.0,), ("elu", ((0, 1, -2.125),)), ("fmod", ((1, 1, 1.8805670317332803), (0, 1, 1)))), 0),
    ],
)
def test_graphs_the_fuzzer_found_agree_with_eager(backend: str, f: Graph, split: int) -> None:
    check_graph(f, split, backend)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=graphs(max_ops=8, max_inputs=4), data=st.data())
def test_thousands_of_random_graphs_agree_with_eager(backend: str, f: Graph, data: st.DataObject) -> None:
    check_graph(f, data.draw(st.integers(0, len(f.inputs))), backend)


# --- custom ops, constants, errors ----------------------------------------------------------------

softplus = custom_op("smooth_relu", lambda x: math.log1p(math.exp(x)), lambda F, x, out: F.sigmoid(x))
fma = custom_op("fma", lambda x, y, z: x * y + z, lambda F, x, y, z, out: (y, x, 1.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_custom_ops_are_called_from_the_generated_code(backend: str, replays: list[int]) -> None:
    w, b = Value(0.3), Value(-0.2)

    def sample_loss(x: Any, y: Any) -> Value:
        return softplus(fma(w, x, b)) * y + mg.sqrt(w * w + x * x)

    samples = [(0.5, 1.0), (-2.0, 3.0), (1.5, -1.0)]
    step = mg.compile(sample_loss, [w, b], backend=backend)
    want_total, want = eager(sample_loss, [w, b], samples)
    total, got = compiled(step, samples)
    assert math.isclose(total, want_total, rel_tol=1e-12)
    assert_close(got, want, TOLERANCE[backend])
    assert step(*samples[1]) == pytest.approx(sample_loss(*samples[1]).data, rel=1e-14)
    assert not replays


def test_constants_are_exact_literals() -> None:
    w = Value(3.0)
    step = mg.compile(lambda x: w * x * 0.1 + 1e-4 * w, [w])
    assert "0.1" in step.source(1) and "0.0001" in step.source(1)
    assert step(7.0) == (w * 7.0 * 0.1 + 1e-4 * w).data


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("loss", "bad", "error"),
    [
        (lambda w, x: (w * x).log(), -1.0, ValueError),
        (lambda w, x: w / x, 0.0, ZeroDivisionError),
        (lambda w, x: (w * x) ** 0.5, -4.0, ValueError),
        (lambda w, x: (w * x).exp(), 1e4, OverflowError),
        (lambda w, x: (w * x) ** 3, 1e155, OverflowError),
        (lambda w, x: (w * x) ** w, -1e155, OverflowError),
    ],
)
def test_domain_errors_are_the_eager_errors_and_leave_nothing_behind(
    backend: str, loss: Callable[[Value, Any], Value], bad: float, error: type[Exception]
) -> None:
    w = Value(2.0)
    step = mg.compile(lambda x: loss(w, x), [w], backend=backend)
    samples = [(1.0,), (bad,), (3.0,)]
    with pytest.raises(error) as from_eager:
        eager(lambda x: loss(w, x), [w], samples)
    with pytest.raises(error) as from_compiled:
        step.backward(samples)
    assert str(from_compiled.value) == str(from_eager.value)
    assert w.grad is None
    with pytest.raises(error, match=re.escape(str(from_eager.value))):
        step(bad)


# Powers whose slope's x ** (n - 1) passes the floats though x ** n does not: the table's slope
# catches the OverflowError (two factors: a finite slope, or ±inf), and so must the trees.
_SLOPES_PAST_THE_FLOATS = [
    (lambda w, p, h: (1.16e-284 * w * h) ** p, [(1.0,), (2.0,), (0.5,), (3.0,)]),  # x ** y
    (lambda w, p, h: (w * h) ** -1.05, [(1e-290,), (3e-291,), (1.0,)]),  # slope -inf
    (lambda w, p, h: (w * h) ** 1e-20 * p, [(5e-324,), (1e-323,), (2.0,)]),  # slope 1e303
    # a zero base to a Value exponent: numpy also computes the overflow test's branch there
    (lambda w, p, h: (w * h) ** (-p), [(0.0,), (2.0,)]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("loss", "samples"), _SLOPES_PAST_THE_FLOATS, ids=["x**y", "x**-1.05", "x**1e-20", "0**y"]
)
def test_a_power_whose_slope_passes_the_floats_runs_in_generated_code_as_in_eager_mode(
    backend: str, loss: Callable[..., Value], samples: list[tuple[float]], replays: list[int]
) -> None:
    w, p = Value(1.0), Value(-1.05)
    step = mg.compile(lambda h: loss(w, p, h), [w, p], backend=backend)
    want_total, want = eager(lambda h: loss(w, p, h), [w, p], samples, mean=False)
    total, got = compiled(step, samples, reduction="sum")
    assert not replays  # no sample handed to the eager engine: eager mode raises nothing
    for g, e in zip([total, *got], [want_total, *want], strict=True):
        assert g == e or math.isclose(g, e, rel_tol=TOLERANCE[backend]), (got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_inputs_propagate_as_in_eager(backend: str) -> None:
    model, sample_loss, samples = moons_problem()
    samples = [*samples[:5], (math.nan, 0.5, 1)]
    step = mg.compile(sample_loss, model.parameters(), backend=backend)
    want_total, want = eager(sample_loss, model.parameters(), samples)
    total, got = compiled(step, samples)
    assert math.isnan(total) and math.isnan(want_total)
    assert [math.isnan(g) for g in got] == [math.isnan(g) for g in want]
    assert_close(got, want, TOLERANCE[backend])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nan_sample_gives_no_gradient_through_a_unit_the_loss_does_not_read(backend: str) -> None:
    """A unit computed and dropped gets no gradient in eager mode, even from a NaN sample:
    its weights' gradients come from the L2 term alone."""
    p = [Value(0.1 * k - 0.3) for k in range(7)]

    def sample_loss(x0: Any, x1: Any) -> Value:
        used = (p[0] * x0 + p[1] * x1 + p[2]) ** 3
        (p[3] * x0 + p[4] * x1 + p[5]) ** 3  # computed (its domain errors count), not read
        return p[6] * used + 0.1 * sum(q * q for q in p)

    samples = [(1.0, 2.0), (math.nan, math.nan), (0.5, -1.0)]
    step = mg.compile(sample_loss, p, backend=backend)
    _, want = eager(sample_loss, p, samples)
    _, got = compiled(step, samples)
    assert [math.isnan(g) for g in want] == [True, True, True, False, False, False, True]
    assert [math.isnan(g) for g in got] == [math.isnan(g) for g in want]
    assert_close(got, want, TOLERANCE[backend])


def test_detect_anomaly_raises_as_eager_does() -> None:
    w = Value(1.0)
    step = mg.compile(lambda x: w * x, [w])
    with mg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"1.0 \* inf produced inf"):
        step.backward([(math.inf,)])


# --- what cannot be traced ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample_loss", "how", "which"),
    [
        (lambda x: x * 2 if x.data > 0 else -x, "read .data of", "sample argument 0"),
        (lambda x: (x * 2) if (x * 3) > 0 else x, "compared (>)", "the result of *"),
        (lambda x: Value(math.sin(x)), "called float()", "sample argument 0"),
        (lambda x: Value(float(x.exp())), "called float()", "the result of exp"),
        (lambda x: Value.relu(x), "read .data of", "sample argument 0"),
        (lambda x: Value(round(x, 2)), "called round() on", "sample argument 0"),
        (lambda x: Value(x.item()), "called item() on", "sample argument 0"),
        (lambda x: x * 2 if x - 1 else x, "tested the truth of", "the result of -"),
    ],
)
def test_python_branches_on_traced_values_are_refused(
    sample_loss: Callable[..., Any], how: str, which: str
) -> None:
    step = mg.compile(sample_loss, [])
    with pytest.raises(TypeError) as refused:
        step(1.0)
    message = str(refused.value)
    assert how in message and which in message and "relu" in message and "custom_op" in message


def test_bad_input_is_a_clear_error() -> None:
    w = Value(1.0)
    step = mg.compile(lambda x: w * x, [w])
    with pytest.raises(ValueError, match="no samples"):
        step.backward([])
    with pytest.raises(ValueError, match="sample 1 has 2 argument"):
        step.backward([(1.0,), (1.0, 2.0)])
    with pytest.raises(TypeError, match="argument 0 of sample 0 must be a real number, got str"):
        step.backward([("1.5",)])
    with pytest.raises(TypeError, match="got bool"):
        step.backward([(True,)])
    with pytest.raises(TypeError, match="got complex"):
        step(1j)
    with pytest.raises(TypeError, match="each sample must be a tuple"):
        step.backward([1.0, 2.0])
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        step.backward([(1.0,)], reduction="max")
    with pytest.raises(TypeError, match="must return a Value, got float"):
        mg.compile(lambda x: 2.0, [])(1.0)
    with pytest.raises(ValueError, match=r"params\[1\] is not a leaf \(it is the result of \*\)"):
        mg.compile(lambda x: w * x, [w, w * 2])
    with pytest.raises(TypeError, match=r"params\[0\] must be a Value, got float"):
        mg.compile(lambda x: w * x, [1.0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="appears more than once"):
        mg.compile(lambda x: w * x, [w, w])
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        mg.compile(lambda x: w * x, [w], backend="fortran")
    assert w.grad is None


def test_numpy_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(ImportError, match=r'pip install "microgrsucc\[fast\]"'):
        mg.compile(lambda x: x, [], backend="numpy")


def test_retraces_for_new_arity_a_changed_parameter_list_and_a_changed_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, v = Value(2.0), Value(5.0)
    params = [w]
    step = mg.compile(lambda *xs: sum((w * x for x in xs), v * 0.0) + sum(params[1:], Value(0.0)), params)
    assert step(1.0) == 2.0 and step(1.0, 3.0) == 8.0  # another number of arguments: another trace
    params.append(v)
    step.backward([(1.0,)])
    assert v.grad == 1.0  # the new parameter was traced
    exp = mg.ops.PRIMITIVES["exp"]
    step2 = mg.compile(lambda x: (w * x).exp(), [w])
    assert step2(0.0) == 1.0
    monkeypatch.setattr(exp, "forward", lambda x: 42.0)
    assert step2(0.0) == 42.0


def counting_traces(w: Value) -> tuple[Callable[..., Value], list[int]]:
    """A loss ``exp(w * x)`` and the list its traces append to: one call of the loss per trace."""
    traced: list[int] = []

    def loss(x: Any) -> Value:
        traced.append(1)
        return (w * x).exp()

    return loss, traced


# Ways a dict is changed in place (clear: test_table.py), each applied to the table between two calls.
TABLE_CHANGES: dict[str, Callable[[dict[str, Any], Any], Any]] = {
    "an entry replaced": lambda table, op: table.__setitem__("exp", op),
    "an entry added": lambda table, op: table.__setitem__("exp_again", op),
    "del": lambda table, op: table.__delitem__("exp"),
    "pop": lambda table, op: table.pop("exp"),
    "popitem": lambda table, op: table.popitem(),
    "update": lambda table, op: table.update(exp_again=op),
    "setdefault": lambda table, op: table.setdefault("exp_again", op),
    "|=": lambda table, op: table.__ior__({"exp_again": op}),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("change", TABLE_CHANGES.values(), ids=list(TABLE_CHANGES))
def test_a_table_changed_after_a_call_is_traced_again(backend: str, change: Callable[..., Any]) -> None:
    w = Value(0.5)
    loss, traced = counting_traces(w)
    step = mg.compile(loss, [w], backend=backend)
    step.backward([(1.0,)])
    step.backward([(2.0,)])
    assert len(traced) == 1  # the steady state: no trace
    saved = dict(ops.PRIMITIVES)
    try:
        change(ops.PRIMITIVES, ops.PRIMITIVES["sin"])
        assert compiled(step, [(2.0,)]) == (math.exp(1.0), [2.0 * math.exp(1.0)])
        assert len(traced) == 2
    finally:
        ops.PRIMITIVES.clear()
        ops.PRIMITIVES.update(saved)
    step.backward([(2.0,)])
    assert len(traced) == 3  # the table restored is another change


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_table_changed_and_restored_between_calls_keeps_its_trace(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count of changes only says when to compare: a table equal to the traced one (an
    entry or an op's function put back, or a plain dict in its place holding the same ops)
    keeps the trace, as a comparison alone decided."""
    w = Value(0.5)
    loss, traced = counting_traces(w)
    step = mg.compile(loss, [w], backend=backend)
    step.backward([(1.0,)])
    exp = ops.PRIMITIVES["exp"]
    ops.PRIMITIVES["exp"] = ops.PRIMITIVES["sin"]
    ops.PRIMITIVES["exp"] = exp
    exp.forward = exp.forward
    step.backward([(1.0,)])
    assert len(traced) == 1
    monkeypatch.setattr(ops, "PRIMITIVES", dict(ops.PRIMITIVES))  # a plain dict: compared every call
    step.backward([(1.0,)])
    assert len(traced) == 1
    ops.PRIMITIVES["exp_again"] = exp
    step.backward([(1.0,)])
    assert len(traced) == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("field", ["forward", "derivative"])
def test_an_ops_function_replaced_after_a_call_is_traced_again(
    backend: str, field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = Value(0.5)
    loss, traced = counting_traces(w)
    step = mg.compile(loss, [w], backend=backend)
    step.backward([(1.0,)])
    exp = ops.PRIMITIVES["exp"]
    monkeypatch.setattr(
        exp, field, {"forward": lambda x: math.exp(x), "derivative": lambda F, x, out: out}[field]
    )
    assert compiled(step, [(2.0,)]) == (math.exp(1.0), [2.0 * math.exp(1.0)])
    assert len(traced) == 2
    step.backward([(2.0,)])
    assert len(traced) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_parameter_replaced_in_the_list_after_a_call_is_traced_again(backend: str) -> None:
    w, v = Value(2.0), Value(3.0)
    params = [w]
    step = mg.compile(lambda x: params[0] * x, params, backend=backend)
    assert compiled(step, [(1.0,), (2.0,)]) == (3.0, [1.5])
    params[0] = v  # same length, another Value
    assert compiled(step, [(1.0,), (2.0,)]) == (4.5, [1.5])
    assert step.params == [v] and w.grad == 0.0


def test_the_numpy_backend_takes_an_array_of_samples() -> None:
    np = pytest.importorskip("numpy")
    model, sample_loss, samples = moons_problem()
    step = mg.compile(sample_loss, model.parameters(), backend="numpy")
    _, want = eager(sample_loss, model.parameters(), samples)
    _, got = compiled(step, np.array(samples, dtype=float))
    assert_close(got, want, 1e-10)
    with pytest.raises(TypeError, match="real numbers"):
        step.backward(np.array([[1j, 2.0, 1.0]]))


CHECK_SEC = """
import math
import microgrsucc as mg
from microgrsucc import Value
w = Value(0.3)
for backend in ("python", "numpy"):
    step = mg.compile(lambda x: (w * x).sec(), [w], backend=backend)
    assert "cos(" in step.source(1) and "tan(" in step.source(1), step.source(1)
    w.grad = 0.0
    step.backward([(0.5,), (1.0,)], reduction="sum")
    want = sum(x * math.tan(0.3 * x) / math.cos(0.3 * x) for x in (0.5, 1.0))
    assert math.isclose(w.grad, want, rel_tol=1e-12), (w.grad, want)
print("sec compiles")
"""


def test_an_op_appended_to_the_table_compiles(package_with_sec: PackageCopy) -> None:
    ran = package_with_sec.python("-c", CHECK_SEC)
    assert ran.returncode == 0, ran.stderr
    assert "sec compiles" in ran.stdout


# --- what the compiled step must never get wrong ----------------------------------------------------


def _sq(w: Value) -> Callable[..., Value]:
    return lambda a, b: w * (a - b) ** 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["uint8", "int64", "float32", "float64"])
def test_array_samples_become_float64_at_the_boundary(backend: str, dtype: str) -> None:
    import numpy as np

    w = Value(0.5)
    step = mg.compile(_sq(w), [w], backend=backend)
    samples = np.array([[1, 2], [7, 3]], dtype=dtype)
    want_total, want = eager(_sq(w), [w], [(1.0, 2.0), (7.0, 3.0)])  # uint8 1 - 2 wraps to 255
    total, got = compiled(step, samples)
    assert total == pytest.approx(want_total, rel=1e-12) and type(total) is float
    assert got[0] == pytest.approx(want[0], rel=1e-12) and type(w.grad) is float


# Arrays of samples in every layout and type: a C-ordered 2-d float64 array is taken as it is
# by the array backends, every other goes through the checks and conversions.
SAMPLE_ARRAYS: dict[str, Callable[[Any], Any]] = {
    "float64": lambda rows: rows,
    "every other row": lambda rows: rows.repeat(2, axis=0)[::2],
    "every other column": lambda rows: rows.repeat(2, axis=1)[:, ::2],
    "Fortran order": lambda rows: rows.copy(order="F"),
    "negative strides": lambda rows: rows[::-1].copy()[::-1],
    "big-endian": lambda rows: rows.astype(">f8"),
    "float32": lambda rows: rows.astype("float32"),
    "int64": lambda rows: (rows * 4).astype("int64"),
    "read-only": lambda rows: read_only(rows),
}


def read_only(rows: Any) -> Any:
    out = rows.copy()
    out.flags.writeable = False
    return out


@pytest.mark.parametrize(
    "backend",
    [
        *BACKENDS,
        pytest.param("numba", marks=[pytest.mark.numba, pytest.mark.slow]),  # seconds to compile
        pytest.param("jax", marks=[pytest.mark.jax, pytest.mark.slow]),
    ],
)
@pytest.mark.parametrize("layout", SAMPLE_ARRAYS.values(), ids=list(SAMPLE_ARRAYS))
def test_an_array_of_samples_in_any_layout_gives_eager_results(
    backend: str, layout: Callable[..., Any]
) -> None:
    np = pytest.importorskip("numpy")
    if backend != "python" and backend != "numpy":
        pytest.importorskip(backend)
    w, b = Value(0.75), Value(-0.5)

    def loss(x: Any, y: Any, t: Any) -> Value:
        return (w * x - b * y + t).tanh() ** 2 + 1e-3 * (w * w + b * b)

    rows = np.array([[0.5, -1.25, 2.0], [1.5, 0.25, -0.5], [-2.0, 3.0, 0.125], [0.0, -0.75, 1.0]])
    samples = layout(rows)
    as_floats = [tuple(float(x) for x in row) for row in np.asarray(samples).tolist()]
    want_total, want = eager(loss, [w, b], [tuple(Value(x) for x in row) for row in as_floats])
    step = mg.compile(loss, [w, b], backend=backend)
    for _ in range(2):  # the first call traces, the second is the steady state
        total, got = compiled(step, samples)
        assert total == pytest.approx(want_total, rel=1e-12) and type(total) is float
        assert_close(got, want, 1e-10)
    assert np.asarray(samples).tolist() == [list(row) for row in as_floats]  # the samples untouched


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_array_of_samples_is_refused_as_an_empty_list_is(backend: str) -> None:
    import numpy as np

    w = Value(0.5)
    step = mg.compile(_sq(w), [w], backend=backend)
    for empty in (np.zeros((0, 2)), []):
        with pytest.raises(ValueError, match="got no samples"):
            step.backward(empty)
    with pytest.raises(ValueError, match="must be 2-d"):
        step.backward(np.zeros((2, 2, 1)))
    assert w.grad is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_tuples_of_numpy_and_big_integers_compute_in_float64(backend: str) -> None:
    import numpy as np

    w = Value(1.0)
    step = mg.compile(lambda a, b: w * (a - b), [w], backend=backend)
    big = [(2**60 + 1, 2**60)]  # exact integers differ by 1; as floats (as Values) they are equal
    as_values = [(Value(2**60 + 1), Value(2**60))]
    assert compiled(step, big) == eager(lambda a, b: w * (a - b), [w], as_values) == (0.0, [0.0])
    small = [(np.uint8(1), np.uint8(2))]
    assert compiled(step, small)[0] == -1.0 and step(np.uint8(1), np.uint8(2)) == -1.0
    assert step(2**60 + 1, 2**60) == 0.0
    with pytest.raises(TypeError, match="argument 1 of sample 0 must be a real number, got str"):
        step.backward([(1.0, "2")])


class _Frame:
    """A table of another library as pandas' DataFrame is to numpy: ``__array__`` gives its
    numbers, iterating gives its column names (torch's tensors and jax's arrays have
    ``__array__`` too)."""

    def __init__(self, rows: list[tuple[float, ...]], dtype: str) -> None:
        self.rows, self.dtype = rows, dtype

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        return np.array(self.rows, dtype=dtype or self.dtype)

    def __iter__(self) -> Any:
        return iter(["x", "y"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_samples_of_another_array_library_are_taken_as_its_numpy_array(backend: str, dtype: str) -> None:
    import numpy as np

    w, v = Value(0.5), Value(-1.5)

    def sample_loss(x: Any, y: Any) -> Value:
        return (w * x + v * y).tanh() * w + abs(v * x)

    rows = [(0.1, 0.2), (3.0, -0.7), (1.1, 2.3)]
    as_floats = np.array(rows, dtype=dtype).astype(float).tolist()  # as Value converts them
    step = mg.compile(sample_loss, [w, v], backend=backend)
    want_total, want = eager(sample_loss, [w, v], as_floats)
    total, got = compiled(step, _Frame(rows, dtype))
    assert total == pytest.approx(want_total, rel=TOLERANCE[backend])
    assert_close(got, want, TOLERANCE[backend])
    with pytest.raises(TypeError, match="must hold real numbers, got dtype bool"):
        step.backward(_Frame([(1.0, 0.0)], "bool"))


def test_float32_samples_leave_float64_parameters_after_a_step() -> None:
    import json

    import numpy as np

    w = Value(0.5)
    step = mg.compile(_sq(w), [w])
    step.backward(np.array([[1.0, 2.5]], dtype=np.float32))
    SGD([w], lr=0.1).step()
    assert type(w.grad) is float and type(w.data) is float
    json.dumps([w.data, w.grad])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_first_call_inside_no_grad_keeps_the_parameter_terms(backend: str) -> None:
    w = Value(2.0)
    step = mg.compile(lambda x: w * w + x, [w], backend=backend)
    with mg.no_grad():
        assert step(1.0) == 5.0
    assert compiled(step, [(1.0,)]) == (5.0, [4.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_inside_no_grad_is_a_runtime_error_as_in_eager_mode(backend: str) -> None:
    # Eager mode's losses built under no_grad() have no graph, and backward() on them raises
    # (as torch's); the compiled step returned the total and added no gradient, silently.
    w = Value(2.0)
    step = mg.compile(lambda x: w * w * x, [w], backend=backend)
    for _ in range(2):  # before the first trace, and after it
        with mg.no_grad(), pytest.raises(RuntimeError, match=r"backward\(\) inside no_grad\(\)"):
            step.backward([(1.0,), (2.0,)])
        assert w.grad is None
        assert compiled(step, [(1.0,), (2.0,)]) == (6.0, [6.0])
        w.grad = None
    with mg.no_grad():
        loss = (w * w * 1.0 + w * w * 2.0) / 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        loss.backward()  # eager mode, the reference


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_parameter_data_read_in_the_loss_follows_the_parameter(backend: str) -> None:
    w = Value(1.0)
    step = mg.compile(lambda x: w * x * w.data, [w], backend=backend)
    assert compiled(step, [(2.0,)]) == (2.0, [2.0])
    w.data = 3.0
    assert step(2.0) == 18.0
    assert compiled(step, [(2.0,)]) == (18.0, [6.0])
    branch = mg.compile(lambda x: w * x if w.data > 0 else -w * x, [w], backend=backend)
    assert compiled(branch, [(2.0,)]) == (6.0, [2.0])
    w.data = -1.0
    assert compiled(branch, [(2.0,)]) == (2.0, [-2.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_branch_on_the_sign_of_a_zero_parameter_follows_it(backend: str) -> None:
    # 0.0 == -0.0, but copysign tells them apart: the guard must too (eager is the oracle).
    w = Value(0.0)
    step = mg.compile(lambda x: w * x * math.copysign(10.0, w.data) + x, [w], backend=backend)
    for value in (0.0, -0.0, 0.0):
        w.data, w.grad = value, None
        eager = w * 2.0 * math.copysign(10.0, w.data) + 2.0
        eager.backward()
        want = (eager.data, [w.grad])
        assert compiled(step, [(2.0,)]) == want, value


def test_a_parameter_used_only_in_ops_is_not_guarded() -> None:
    w = Value(1.0)
    step = mg.compile(lambda x: w * x + w * w, [w])
    step.backward([(2.0,)])
    first = step._compiled(1)
    w.data = 5.0
    step.backward([(2.0,)])
    assert step._compiled(1) is first and first.trace.guards == {}


def test_two_threads_tracing_at_once_both_keep_the_guard_of_a_parameter_read() -> None:
    # A parameter is watched through its class, which every thread sees. A second trace begun
    # while the first runs, reading w.data after the first has put the class back, must still
    # record the read, or its step (the one kept) gives w.data = 1.0 for ever.
    w = Value(1.0)
    first_inside, second_inside = threading.Event(), threading.Event()

    def sample_loss(x: Any) -> Value:
        if threading.current_thread() is first:
            first_inside.set()
            second_inside.wait(0.2)  # the other trace, if it may begin meanwhile
        else:
            second_inside.set()
            first.join()  # the first trace is over: w's class is put back
        return w * x * w.data

    step = mg.compile(sample_loss, [w])
    first = threading.Thread(target=lambda: step(2.0))
    second = threading.Thread(target=lambda: (first_inside.wait(), step(2.0)))
    first.start(), second.start()
    first.join(), second.join()
    assert type(w) is Value
    w.data = 3.0
    assert compiled(step, [(2.0,)]) == eager(sample_loss, [w], [(2.0,)]) == (18.0, [6.0])


def test_another_thread_computes_with_a_parameter_while_a_trace_runs_as_in_eager_mode() -> None:
    # A validation pass in another thread meets the parameter's watched class: its ops and
    # backward() are eager mode's, and its results plain Values.
    w = Value(1.0)
    inside, done = threading.Event(), threading.Event()
    got: list[Any] = []

    def sample_loss(x: Any) -> Value:
        inside.set()
        done.wait()
        return w * x

    def validate() -> None:
        inside.wait()
        try:
            y = (w * 3.0).exp() + w
            y.backward()
            got.extend([type(y), y.data, w.grad])
        except Exception as err:  # what the main thread asserts on
            got.append(err)
        finally:
            done.set()

    other = threading.Thread(target=validate)
    other.start()
    step = mg.compile(sample_loss, [w])
    assert step(2.0) == 2.0
    other.join()
    w.grad = None
    want = (w * 3.0).exp() + w
    want.backward()
    assert got == [Value, want.data, w.grad]


# Ways a Value outside the parameters changes between two calls, as a target network or a
# frozen layer does; eager mode reads its new value at once.
OUTSIDE_CHANGES: dict[str, Callable[[MLP], Any]] = {
    "p.data =": lambda net: setattr(net.parameters()[0], "data", 3.0),
    "load_state_dict": lambda net: net.load_state_dict(MLP(2, [3, 1], seed=5).state_dict()),
    "to -0.0": lambda net: [setattr(p, "data", -0.0) for p in net.parameters()],
    "to NaN": lambda net: setattr(net.parameters()[1], "data", math.nan),
    "a FlatParameter's array": lambda net: mg.FlatParameter(net.parameters()).data.__imul__(0.5),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_value_outside_the_parameters_changed_between_calls_is_read_again(backend: str) -> None:
    model, target = MLP(2, [3, 1], seed=0), MLP(2, [3, 1], seed=1)
    params = model.parameters()
    shift = Value(0.0)  # outside every network, as a schedule's constant

    def sample_loss(a: Any, b: Any) -> Value:
        return (model([a, b]) - target([a, b])) ** 2 + shift * a  # type: ignore[operator]

    step = mg.compile(sample_loss, params, backend=backend)
    samples = [(0.5, -1.0), (2.0, 0.25)]
    for name in ["nothing", *OUTSIDE_CHANGES, "shift to -0.0"]:
        if name in OUTSIDE_CHANGES:
            OUTSIDE_CHANGES[name](target)
        elif name == "shift to -0.0":
            shift.data = -0.0
        want_total, want = eager(sample_loss, params, samples)
        total, got = compiled(step, samples)
        assert total == pytest.approx(want_total, rel=TOLERANCE[backend], nan_ok=True), name
        assert_close(got, want, TOLERANCE[backend])
        assert step(*samples[1]) == pytest.approx(sample_loss(*samples[1]).data, rel=1e-14, nan_ok=True), name


def helper_without_grad(w: Value, x: Value) -> Value:
    with mg.no_grad():
        return w * x


@pytest.mark.parametrize(
    "cut",
    [
        helper_without_grad,
        mg.no_grad()(lambda w, x: w * x),
        lambda w, x: mg.set_grad_enabled(False)(lambda: x * w)(),
    ],
)
def test_no_grad_on_a_per_sample_value_inside_a_compiled_loss_is_refused(
    cut: Callable[[Value, Value], Value],
) -> None:
    # Eager mode cuts that value from the graph (w.grad stays None here); the compiled step
    # differentiated through it, giving w a gradient eager mode does not.
    w, b = Value(0.5), Value(-0.25)
    step = mg.compile(lambda x, y: (cut(w, x) + b * y) ** 2, [w, b])
    with pytest.raises(TypeError, match=r"applied \* to sample argument 0, .* under no_grad\(\)"):
        step.backward([(1.0, 2.0)])
    assert mg.is_grad_enabled()


def _no_grad_of_w_times_2(w: Value) -> Value:
    with mg.no_grad():
        return w * 2.0


def _no_grad_times_3(w: Value) -> Value:
    c = w * 2.0
    with mg.no_grad():
        return c * 3.0


@pytest.mark.filterwarnings("ignore:float\\(\\) of a Value:UserWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "constant",
    [
        lambda w: (w * 2.0).data,
        lambda w: (w * 2.0).detach(),
        lambda w: float(w * 2.0),
        _no_grad_times_3,
        _no_grad_of_w_times_2,
    ],
)
def test_a_number_read_from_a_value_computed_from_a_parameter_follows_the_parameter(
    backend: str, constant: Callable[[Value], Any]
) -> None:
    # (w * 2).data is as stale as w.data once w moves: the compiled step kept 2 * 0.5 (7.5
    # where eager mode gives 13.5 at w = 1.5); such a read is guarded as a read of w is, and
    # so is a parameter-only value computed under no_grad(), a constant of each step.
    w = Value(0.5)

    def loss(x: Value) -> Value:
        return constant(w) * x + w * x

    step = mg.compile(loss, [w], backend=backend)
    for value in (0.5, 1.5, -2.0):
        w.data = value
        total, grads = compiled(step, [(3.0,), (-1.0,)])
        want_total, want_grads = eager(loss, [w], [(3.0,), (-1.0,)])
        assert total == pytest.approx(want_total) and grads == pytest.approx(want_grads)
    assert type(w) is Value  # the trace gave every class back


@pytest.mark.parametrize("update", [lambda c: c.__imul__(2.0), lambda c: c.__iadd__(1.0)])
def test_an_in_place_operator_under_no_grad_on_a_traced_value_is_refused(
    update: Callable[[Value], Value],
) -> None:
    # Eager mode changes c.data and differentiates c at the value its op saw, so c *= 2.0
    # doubles the loss and not w's gradient; the compiled step recorded c * 2.0, which did.
    w, b = Value(0.5), Value(-0.25)

    def loss(x: Value) -> Value:
        c = w * x
        with mg.no_grad():
            c = update(c)
        return c * b

    with pytest.raises(TypeError, match=r"to the result of \*.* under no_grad\(\)"):
        mg.compile(loss, [w, b]).backward([(1.0,), (2.0,)])


def test_a_gradient_inside_a_compiled_loss_is_refused() -> None:
    w = Value(0.5)
    # t * w: a function of the sample first, whose traced node is a leaf to the transform
    for f in (lambda t: w * t * t, lambda t: t * w):
        step = mg.compile(lambda x, f=f: mg.grad(f)(x), [w])
        with pytest.raises(TypeError, match="compile: sample_loss took a gradient"):
            step.backward([(3.0,)])


@pytest.mark.parametrize(
    "backend", ["python", "numpy", pytest.param("jax", marks=[pytest.mark.jax, pytest.mark.slow])]
)
def test_an_l2_penalty_overflowing_to_inf_warns_nothing_as_in_eager_mode(backend: str) -> None:
    # w * w of 1e200 is inf (``*`` overflows quietly in eager mode); the jax backend's host
    # numpy warned "overflow encountered in dot", a RuntimeError where warnings are errors.
    if backend != "python":
        pytest.importorskip(backend)
    w, v = Value(1e200), Value(0.5)

    def loss(x: Any) -> Value:
        return v * x + 1e-2 * (w * w + v * v)

    want_total, want = eager(loss, [w, v], [(Value(2.0),), (Value(-1.0),)])
    assert want_total == math.inf and want[0] == pytest.approx(2e198, rel=1e-15)
    step = mg.compile(loss, [w, v], backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total, got = compiled(step, [(2.0,), (-1.0,)])
    assert total == want_total and got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    "loss",
    [
        lambda w, x, t: mg.losses.hinge_loss(w * x, t),
        lambda w, x, t: mg.losses.binary_cross_entropy((w * x).sigmoid(), t),
    ],
)
def test_a_loss_given_a_sample_argument_as_its_target_says_to_give_a_constant(loss: Any) -> None:
    w = Value(0.5)
    assert loss(w, 0.5, 1.0).data > 0.0  # eager mode takes the target as a number
    step = mg.compile(lambda x, t: loss(w, x, t), [w])
    with pytest.raises(TypeError, match=r"on sample argument 1.*a loss's target .* give a constant"):
        step.backward([(0.5, 1.0)])
    assert mg.compile(lambda x: loss(w, x, 1.0), [w])(0.5) == loss(w, 0.5, 1.0).data  # a constant works


def test_value_of_a_sample_argument_says_it_is_a_value_already() -> None:
    # Eager code wraps its float in Value(x); inside a compiled loss x is a traced Value,
    # which Value() refuses (as it refuses any Value): the error says why and what to write.
    w = Value(0.5)
    assert (Value(3.0) * w).data == 1.5  # the loss in eager mode
    step = mg.compile(lambda x: Value(x) * w, [w])
    with pytest.raises(TypeError, match=r"sample argument 0.*inside a compiled loss.*x \* w rather than"):
        step.backward([(3.0,)])
    with pytest.raises(TypeError, match=r"it is a Value already: use it as it is"):
        Value(w)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fails", [False, True])
def test_the_collector_is_paused_while_tracing_and_restored_after(backend: str, fails: bool) -> None:
    w = Value(0.5)
    seen: list[bool] = []

    def sample_loss(x: Value) -> Value:
        seen.append(gc.isenabled())
        if fails:
            raise RuntimeError("a bug in the loss")
        return w * x

    step = mg.compile(sample_loss, [w], backend=backend)
    assert gc.isenabled()
    if fails:
        with pytest.raises(RuntimeError, match="a bug in the loss"):
            step.backward([(2.0,)])
    else:
        assert compiled(step, [(2.0,)]) == (1.0, [2.0])
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [lambda w: lambda x: w, lambda w: lambda x: +w])
def test_a_loss_that_is_a_parameter_has_gradient_one(
    backend: str, make: Callable[[Value], Callable[..., Value]]
) -> None:
    w = Value(1.5)
    step = mg.compile(make(w), [w], backend=backend)
    assert compiled(step, [(2.0,), (3.0,)]) == (1.5, [1.0])
    assert compiled(step, [(2.0,), (3.0,)], reduction="sum") == (3.0, [2.0])


def test_one_nan_sample_stays_on_the_numpy_path(replays: list[int]) -> None:
    model, sample_loss, samples = moons_problem()
    samples = [*samples, (math.nan, 0.5, 1)]
    step = mg.compile(sample_loss, model.parameters(), backend="numpy")
    want_total, want = eager(sample_loss, model.parameters(), samples)
    total, got = compiled(step, samples)
    assert replays == []
    assert math.isnan(total) and math.isnan(want_total)
    assert [math.isnan(g) for g in got] == [math.isnan(g) for g in want]


def test_a_domain_error_replays_only_the_samples_that_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    w = Value(1.0)
    step = mg.compile(lambda x: (w * x).exp(), [w], backend="numpy")
    replayed: list[int] = []
    original = mg.compiler.eager.replay

    def counted(trace: Any, params: Any, samples: Any, backward: bool) -> Any:
        replayed.append(len(samples))
        return original(trace, params, samples, backward)

    monkeypatch.setattr(mg.compiler.eager, "replay", counted)
    with pytest.raises(OverflowError):
        step.backward([(1.0,)] * 50 + [(1e4,)])
    assert replayed == [1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bug_in_generated_code_is_an_error_not_a_silent_replay(
    backend: str, replays: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    w = Value(1.0)
    step = mg.compile(lambda x: (w * x).tanh(), [w], backend=backend)
    step.backward([(1.0,)])
    compiled_step = step._compiled(1)
    real = compiled_step.batch

    def broken(*args: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(compiled_step, "batch", broken)
    with pytest.raises(RuntimeError, match="generated code raised KeyError"):
        step.backward([(1.0,)])
    assert replays == []
    del real


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", ["nested", "mlp", "wide"])
def test_network_shapes_compile_to_valid_code_on_both_backends(
    backend: str, shape: str, replays: list[int]
) -> None:
    w1, w2 = Value(0.3), Value(-0.7)
    model = MLP(2, [1, 1], bias=False, seed=0)
    wide = [Value(0.01 * (k + 1)) for k in range(200)]
    losses: dict[str, tuple[Callable[..., Value], list[Value]]] = {
        "nested": (lambda a, b, y: (w2 * (w1 * a).tanh()).tanh() * y, [w1, w2]),
        "mlp": (lambda a, b, y: (model([a, b]) - y) ** 2, model.parameters()),  # type: ignore[operator]
        "wide": (lambda a, b, y: sum(((p * a).tanh() for p in wide), Value(0.0)) * y, wide),
    }
    loss, params = losses[shape]
    samples = [(0.5, 1.0, 0.3), (0.25, 2.0, 1.0), (-1.5, 0.5, -2.0)]
    step = mg.compile(loss, params, backend=backend)
    want_total, want = eager(loss, params, samples)
    total, got = compiled(step, samples)
    assert replays == []
    assert total == pytest.approx(want_total, rel=1e-12)
    assert_close(got, want, TOLERANCE[backend])


# --- every op of the table, and members of its families, compiled ---------------------------

_TABLE_OPS = [op for op in mg.ops.PRIMITIVES.values() if op.name.isidentifier()] + [
    mg.ops.leaky_relu_of(0.2),
    mg.ops.gelu_of("tanh"),
    mg.ops.softplus_of(2.0, 1.0),
    mg.ops.clamp_of(-0.1, 0.2),
    mg.ops.hardtanh_of(-0.2, 0.3),
]


@pytest.mark.parametrize("backend", ["python", "numpy"])
@pytest.mark.parametrize("op", _TABLE_OPS, ids=[op.symbol for op in _TABLE_OPS])
def test_every_op_of_the_table_compiles_to_code_that_runs(
    op: mg.ops.Primitive, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated code computes each op itself (no replay by the eager engine), and gives
    eager mode's gradients, for arguments drawn inside the op's domain."""
    if backend == "numpy":
        pytest.importorskip("numpy")
    applied = mg.CustomOp(op)
    w, b = Value(0.9), Value(0.1)
    centers = [lo + (hi - lo) * 0.37 for lo, hi in (part[0] for part in op.domain)]

    def sample_loss(x: Any) -> Value:
        # Each argument near a point of its domain, moved a little by the sample and the params.
        return applied(*[w * x * 0.01 + b * 0.01 + c for c in centers])

    samples = [(0.3,), (-0.7,), (1.1,)]
    _, want = eager(sample_loss, [w, b], samples)
    step = mg.compile(sample_loss, [w, b], backend=backend)

    def no_replay(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{op.symbol}: the generated code failed and the eager engine replayed it")

    monkeypatch.setattr(mg.compiler.eager, "replay", no_replay)
    _, got = compiled(step, samples)

    assert_close(got, want, TOLERANCE[backend])


@pytest.mark.parametrize("backend", BACKENDS)
def test_clamp_with_parameter_bounds_compiles_to_eager_results_at_ties_and_crossings(
    backend: str, replays: list[int]
) -> None:
    lo, hi, w = Value(-0.2), Value(0.9), Value(0.3)

    def sample_loss(x: Any, y: Any) -> Value:
        return (
            (x * w).clamp(lo, hi) * y  # both bounds: clamp_min_max
            + mg.clamp(x, min=lo) + mg.clamp(x, max=hi * 2)  # one: clamp_min, clamp_max
            + mg.clamp(x, 0.1, hi) + mg.clamp(x, hi, lo)  # a constant bound; min > max
            + mg.clamp(y, lo, lo) + mg.clamp_min(x, y)  # min == max; a sample as the bound
        )  # fmt: skip

    # x at a bound (0.9 == hi, -0.2 == lo), below, between and above them; y == x
    samples = [(0.5, 1.0), (-1.0, 2.0), (3.0, -0.2), (-0.2, -0.2), (0.9, 0.1), (2.5, 0.9), (3.0, 3.0)]
    want_total, want = eager(sample_loss, [lo, hi, w], samples)
    total, got = compiled(mg.compile(sample_loss, [lo, hi, w], backend=backend), samples)
    assert replays == []
    assert total == pytest.approx(want_total, rel=1e-12)
    assert_close(got, want, TOLERANCE[backend])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_plain_values_method_with_a_sample_operand_compiles(backend: str) -> None:
    # c.maximum(x) with x traced reaches the tracer's method, as c + x does; it read .data before.
    c, w = Value(2.0), Value(0.5)
    step = mg.compile(lambda x: w * c.maximum(x) + w * c.atan2(x), [w], backend=backend)
    total = step.backward([(3.0,)], reduction="sum")
    assert total == pytest.approx(0.5 * 3.0 + 0.5 * math.atan2(2.0, 3.0), rel=1e-15)
    assert w.grad == pytest.approx(3.0 + math.atan2(2.0, 3.0), rel=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_under_detect_anomaly_a_later_samples_domain_error_comes_first_as_in_eager_mode(backend: str) -> None:
    # Eager mode builds every sample's graph before backward(): sqrt(-1) of sample 1 is met
    # before the infinite slope of sqrt at sample 0, so the compiled step must raise it too.
    w = Value(1.0)
    step = mg.compile(lambda x: mg.sqrt(w * x), [w], backend=backend)
    samples = [(0.0,), (-1.0,)]
    with mg.detect_anomaly(), pytest.raises(ValueError, match=re.escape("sqrt(-1.0)")):
        eager(lambda x: mg.sqrt(w * x), [w], samples)
    with mg.detect_anomaly(), pytest.raises(ValueError, match=re.escape("sqrt(-1.0)")):
        step.backward(samples)
    assert w.grad is None


ZEROS_AND_TINY = st.sampled_from([0.0, -0.0, 1.5, -2.0, 1e-200, -1e-200])


@pytest.mark.parametrize(
    "backend",
    [
        *BACKENDS,
        pytest.param("numba", marks=[pytest.mark.numba, pytest.mark.slow]),
        pytest.param("jax", marks=[pytest.mark.jax, pytest.mark.slow]),
    ],
)
@given(data=st.data())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_layer_whose_terms_are_all_negative_zero_is_negative_zero_as_in_eager_mode(
    backend: str, data: st.DataObject
) -> None:
    # A sum is -0.0 only when every term is (1e-200 * -1e-200 too); atan2(+-0.0, -1) is +-pi,
    # so a layer computed from a +0.0 start (BLAS's, or a zero bias) gives the wrong branch.
    np = pytest.importorskip("numpy")
    if backend not in BACKENDS:
        pytest.importorskip(backend)
    units, inputs = 3, data.draw(st.integers(1, 2), label="inputs")  # four kernels for numba to compile
    w = [[Value(data.draw(ZEROS_AND_TINY)) for _ in range(inputs)] for _ in range(units)]
    b = [Value(data.draw(ZEROS_AND_TINY)) for _ in range(units)] if data.draw(st.booleans()) else None
    params = [p for row in w for p in row] + (b or [])

    def loss(*x: Any) -> Value:
        total = Value(0.0)
        for j in range(units):
            u = w[j][0] * x[0]
            for i in range(1, inputs):
                u = u + w[j][i] * x[i]
            if b is not None:
                u = u + b[j]
            total = total + mg.atan2(u, -1.0)
        return total

    rows = data.draw(st.lists(st.tuples(*[ZEROS_AND_TINY] * inputs), min_size=1, max_size=4), label="samples")
    want_total, want = eager(loss, params, [tuple(Value(x) for x in row) for row in rows])
    total, got = compiled(mg.compile(loss, params, backend=backend), np.array(rows))
    assert total == pytest.approx(want_total, rel=1e-12, abs=1e-300)
    assert_close(got, want, 1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_deep_copy_or_pickle_of_a_step_is_a_type_error_not_a_step_that_disagrees_with_its_loss(
    backend: str,
) -> None:
    # copy.deepcopy copied the step's parameters but not its sample_loss (a function copies as
    # itself), so the copy computed the copied model until a retrace and the original's after:
    # c(0.5, 1.0) was 0.387 (the copy's weights), c.sample_loss(0.5, 1.0) 0.059 (eager mode),
    # and after c.retrace() no gradient reached the copied parameters. Pickling (for
    # multiprocessing) failed inside generated code with a message that did not say why.
    import copy
    import pickle

    model = MLP(1, [3, 1], seed=0)
    step = mg.compile(lambda x, y: (model([x]) - y) ** 2, model.parameters(), backend=backend)
    step.backward([(0.5, 1.0)])
    for attempt in (lambda: copy.deepcopy({"model": model, "step": step}), lambda: pickle.dumps(step)):
        with pytest.raises(TypeError, match=r"compile: a compiled step cannot be copied or pickled"):
            attempt()
    shallow = copy.copy(step)  # the same parameters and the same loss: still the same step
    assert shallow(0.5, 1.0) == step(0.5, 1.0) == ((model([0.5]) - 1.0) ** 2).data
