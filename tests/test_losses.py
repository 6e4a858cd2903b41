"""Each loss's value and gradient at ordinary logits (closed forms, finite differences), at ±1000,
±inf and NaN, and against torch.nn.functional in float64."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, losses
from microgrsucc.losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    hinge_loss,
    logsigmoid,
    logsumexp,
    mse_loss,
)
from microgrsucc.testing import central_difference
from microgrsucc.testing.strategies import reals

EXTREMES = [1000.0, -1000.0]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def log_sigmoid(x: float) -> float:
    """log(sigmoid(x)) in float64 with log1p, accurate on both tails."""
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def grads(loss: Value, inputs: list[Value]) -> list[float]:
    loss.backward()
    return [x.grad for x in inputs]


def finite(*numbers: float) -> bool:
    return all(math.isfinite(n) for n in numbers)


# --- logsumexp and logsigmoid ---------------------------------------------------------------


def test_logsumexp_values() -> None:
    assert logsumexp([0.0]).data == 0.0
    assert logsumexp([0.0, 0.0]).data == pytest.approx(math.log(2))
    assert logsumexp([1.0, 2.0, 3.0]).data == pytest.approx(math.log(math.e + math.e**2 + math.e**3))
    assert logsumexp([1000.0, 1000.0]).data == pytest.approx(1000.0 + math.log(2))
    assert logsumexp([-1000.0, -1000.0]).data == pytest.approx(-1000.0 + math.log(2))


def test_logsumexp_of_nothing_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        logsumexp([])


@given(st.lists(reals(-50, 50), min_size=1, max_size=6))
def test_logsumexp_gradient_is_the_softmax(xs: list[float]) -> None:
    values = [Value(x) for x in xs]
    out = logsumexp(values)
    g = grads(out, values)
    reference = math.fsum(math.exp(x - max(xs)) for x in xs)
    assert g == pytest.approx([math.exp(x - max(xs)) / reference for x in xs], abs=1e-12)
    assert math.fsum(g) == pytest.approx(1.0)
    assert max(xs) <= out.data <= max(xs) + math.log(len(xs)) + 1e-12


@given(st.lists(reals(-5, 5), min_size=1, max_size=5), reals(-900, 900))
def test_logsumexp_shifts_with_its_inputs(xs: list[float], c: float) -> None:
    assert logsumexp([x + c for x in xs]).data == pytest.approx(logsumexp(xs).data + c, abs=1e-9)


def test_logsumexp_at_extreme_logits_is_finite_in_value_and_gradient() -> None:
    values = [Value(1000.0), Value(-1000.0), Value(999.0)]
    out = logsumexp(values)
    g = grads(out, values)
    assert out.data == pytest.approx(1000.0 + math.log(1.0 + math.exp(-1.0)))
    assert finite(out.data, *g)
    assert g == pytest.approx([1 / (1 + math.exp(-1)), 0.0, math.exp(-1) / (1 + math.exp(-1))])


def test_logsigmoid_at_zero_has_gradient_one_half() -> None:
    # The relu/abs form log sigmoid(x) = -relu(-x) - log(1 + exp(-|x|)) gets 0 here.
    x = Value(0.0)
    out = logsigmoid(x)
    assert out.data == pytest.approx(-math.log(2))
    assert grads(out, [x]) == [pytest.approx(0.5)]


@pytest.mark.parametrize("x0", [*EXTREMES, -30.0, -1.0, 0.5, 30.0])
def test_logsigmoid_value_and_gradient(x0: float) -> None:
    x = Value(x0)
    out = logsigmoid(x)
    (g,) = grads(out, [x])
    assert out.data == pytest.approx(log_sigmoid(x0), rel=1e-12)
    assert g == pytest.approx(sigmoid(-x0), rel=1e-9, abs=1e-300)  # 1 - sigmoid(x)


@given(reals(-800, 800))
def test_logsigmoid_odd_part_is_x(x: float) -> None:
    # log sigmoid(x) - log sigmoid(-x) = log(e^x) = x
    assert logsigmoid(x).data - logsigmoid(-x).data == pytest.approx(x, abs=1e-9)


# --- mean squared error ------------------------------------------------------------------------


def test_mse_value_and_gradient() -> None:
    xs = [Value(1.0), Value(-2.0), Value(0.5)]
    loss = mse_loss(xs, [0.0, 1.0, 0.5])
    assert loss.data == pytest.approx((1.0 + 9.0 + 0.0) / 3)
    assert grads(loss, xs) == pytest.approx([2 * 1.0 / 3, 2 * -3.0 / 3, 0.0])


def test_mse_sum_reduction_and_single_value() -> None:
    assert mse_loss([Value(1.0), Value(3.0)], [0.0, 0.0], reduction="sum").data == 10.0
    x = Value(4.0)
    loss = mse_loss(x, 1.0)
    assert loss.data == 9.0
    assert grads(loss, [x]) == [6.0]


def test_mse_target_may_be_a_value_and_gets_a_gradient() -> None:
    x, t = Value(2.0), Value(5.0)
    assert grads(mse_loss(x, t), [x, t]) == [-6.0, 6.0]


# --- hinge -------------------------------------------------------------------------------------


def test_hinge_value_and_gradient() -> None:
    # margins 1 - t*x: 1 - 0.3 = 0.7 (active), 1 - 2 = -1 (inactive), 1 + 0.5 = 1.5 (active)
    xs = [Value(0.3), Value(-2.0), Value(0.5)]
    loss = hinge_loss(xs, [1, -1, -1])
    assert loss.data == pytest.approx((0.7 + 0.0 + 1.5) / 3)
    assert grads(loss, xs) == pytest.approx([-1 / 3, 0.0, 1 / 3])


def test_hinge_margin_and_extremes() -> None:
    assert hinge_loss([Value(1.5)], [1], margin=2.0).data == pytest.approx(0.5)
    xs = [Value(x) for x in EXTREMES]
    loss = hinge_loss(xs, [1, 1], reduction="sum")
    assert loss.data == 1001.0
    assert grads(loss, xs) == [0.0, -1.0]


def test_hinge_wants_plus_or_minus_one() -> None:
    with pytest.raises(ValueError, match="-1 or \\+1, got 0"):
        hinge_loss([Value(1.0)], [0])


# --- binary cross-entropy from logits ----------------------------------------------------------


def bce_reference(x: float, t: float) -> float:
    """-t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), with 1 - sigmoid(x) = sigmoid(-x)."""
    return -t * log_sigmoid(x) - (1 - t) * log_sigmoid(-x)


@given(reals(-15, 15), st.sampled_from([0.0, 0.25, 1.0]))
def test_bce_matches_definition_and_finite_differences(x0: float, t: float) -> None:
    x = Value(x0)
    loss = binary_cross_entropy_with_logits(x, t)
    (g,) = grads(loss, [x])
    assert loss.data == pytest.approx(bce_reference(x0, t), rel=1e-9, abs=1e-12)
    assert g == pytest.approx(sigmoid(x0) - t, abs=1e-12)
    assert g == pytest.approx(central_difference(lambda u: bce_reference(u, t), [x0], 0), abs=1e-6)


@pytest.mark.parametrize(
    ("x0", "t", "value", "gradient"),
    [
        (1000.0, 0.0, 1000.0, 1.0),
        (1000.0, 1.0, 0.0, 0.0),
        (-1000.0, 1.0, 1000.0, -1.0),
        (-1000.0, 0.0, 0.0, 0.0),
    ],
)
def test_bce_at_extreme_logits(x0: float, t: float, value: float, gradient: float) -> None:
    x = Value(x0)
    loss = binary_cross_entropy_with_logits(x, t)
    (g,) = grads(loss, [x])
    assert finite(loss.data, g)
    assert loss.data == pytest.approx(value, abs=1e-12)
    assert g == pytest.approx(gradient, abs=1e-12)


def test_bce_mean_over_samples() -> None:
    xs = [Value(0.0), Value(2.0)]
    loss = binary_cross_entropy_with_logits(xs, [1.0, 0.0])
    assert loss.data == pytest.approx((bce_reference(0.0, 1.0) + bce_reference(2.0, 0.0)) / 2)
    assert grads(loss, xs) == pytest.approx([(0.5 - 1.0) / 2, sigmoid(2.0) / 2])


def test_bce_targets_must_be_probabilities() -> None:
    with pytest.raises(ValueError, match="in \\[0, 1\\], got -1"):
        binary_cross_entropy_with_logits([Value(1.0)], [-1])


# --- softmax cross-entropy from logits ---------------------------------------------------------


def ce_reference(logits: list[float], target: int) -> float:
    """-log softmax(logits)[target], from the definition with exp/sum/log."""
    exps = [math.exp(z) for z in logits]
    return -math.log(exps[target] / math.fsum(exps))


@given(st.lists(reals(-20, 20), min_size=2, max_size=5), st.data())
def test_cross_entropy_matches_definition_and_finite_differences(
    logits: list[float], data: st.DataObject
) -> None:
    target = data.draw(st.integers(0, len(logits) - 1))
    values = [Value(z) for z in logits]
    loss = cross_entropy(values, target)
    g = grads(loss, values)
    assert loss.data == pytest.approx(ce_reference(logits, target), rel=1e-9, abs=1e-12)
    for i in range(len(logits)):
        numeric = central_difference(lambda *zs: ce_reference(list(zs), target), logits, i)
        assert g[i] == pytest.approx(numeric, abs=1e-6)
    assert math.fsum(g) == pytest.approx(0.0, abs=1e-12)  # softmax - one-hot sums to 0


def test_cross_entropy_at_extreme_logits() -> None:
    values = [Value(1000.0), Value(-1000.0), Value(0.0)]
    loss = cross_entropy(values, 1)
    g = grads(loss, values)
    assert finite(loss.data, *g)
    assert loss.data == pytest.approx(2000.0)
    assert g == pytest.approx([1.0, -1.0, 0.0], abs=1e-12)

    right = [Value(1000.0), Value(-1000.0)]
    loss = cross_entropy(right, 0)
    assert loss.data == 0.0
    assert grads(loss, right) == pytest.approx([0.0, 0.0], abs=1e-12)


@settings(max_examples=30)
@given(
    st.one_of(st.sampled_from([1e16, -1e16, 1e300]), reals(-1e300, 1e300)),
    st.lists(st.sampled_from([0.0, 0.0, 1.0, -1.0, 20.0]), min_size=2, max_size=4),
    st.data(),
)
def test_cross_entropy_keeps_its_digits_at_large_logits(
    torch: Any, base: float, offsets: list[float], data: st.DataObject
) -> None:
    # logsumexp - x taken as torch takes it, log(sum) - (x - max): adding log(sum) to a large
    # max first rounds it away ([1e16, 1e16] would cost 0 instead of log 2).
    logits = [base + d for d in offsets]
    target = data.draw(st.integers(0, len(logits) - 1))
    check_cross_entropy(torch, [logits], [target], "mean")


def test_cross_entropy_batch_is_the_mean() -> None:
    batch = [[Value(0.0), Value(0.0)], [Value(1.0), Value(3.0)]]
    loss = cross_entropy(batch, [0, 1])
    assert loss.data == pytest.approx((math.log(2) + ce_reference([1.0, 3.0], 1)) / 2)
    assert cross_entropy(batch, [0, 1], reduction="sum").data == pytest.approx(2 * loss.data)


@pytest.mark.parametrize("target", [2, -1, True])
def test_cross_entropy_target_must_be_a_class_index(target: int) -> None:
    with pytest.raises(ValueError, match="not a class index"):
        cross_entropy([Value(0.0), Value(1.0)], target)


@pytest.mark.parametrize("target", [np.int64(1), np.int32(1), np.uint8(1)])
def test_cross_entropy_takes_any_integer_class_index(target: np.integer) -> None:
    values = [Value(0.0), Value(2.0)]
    loss = cross_entropy(values, target)  # type: ignore[arg-type]
    assert loss.data == cross_entropy([0.0, 2.0], 1).data
    assert grads(loss, values) == pytest.approx([sigmoid(-2.0), -sigmoid(-2.0)])
    batch = cross_entropy([[0.0, 2.0], [1.0, 0.0]], np.array([1, 0]))  # type: ignore[arg-type]
    assert batch.data == cross_entropy([[0.0, 2.0], [1.0, 0.0]], [1, 0]).data


@pytest.mark.parametrize("target", [1.0, np.float64(1.0), np.bool_(True), "1", None])
def test_cross_entropy_refuses_what_is_not_an_integer(target: object) -> None:
    with pytest.raises(ValueError, match="not a class index"):
        cross_entropy([0.0, 2.0], target)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [1, 2, 5])
def test_logsumexp_of_all_minus_infinity_is_minus_infinity_with_a_finite_gradient(n: int) -> None:
    values = [Value(-math.inf) for _ in range(n)]
    out = logsumexp(values)
    assert out.data == -math.inf  # as torch.logsumexp
    assert grads(out, values) == [1.0 / n] * n  # the softmax of equal inputs


def test_logsumexp_with_infinite_inputs() -> None:
    assert logsumexp([-math.inf, 0.0]).data == 0.0
    assert logsumexp([-math.inf, math.inf]).data == math.inf
    assert logsumexp([math.inf, math.inf]).data == math.inf
    values = [Value(-math.inf), Value(1.0)]
    assert grads(logsumexp(values), values) == [0.0, 1.0]


# --- shared checks -----------------------------------------------------------------------------


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError, match="3 outputs but 2 targets"):
        mse_loss([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="2 samples but 1 targets"):
        cross_entropy([[0.0, 1.0], [1.0, 0.0]], [0])


def test_unknown_reduction_raises() -> None:
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', got 'none'"):
        mse_loss([1.0], [0.0], reduction="none")  # type: ignore[arg-type]


# --- PyTorch float64 as the oracle of the newer losses and of softmax -------------------------------
# Each case is a loss of a list of inputs: its value, gradient and hessian against torch's, at
# random points and at the edges (ties, |d| = beta, probabilities 0 and 1, zero targets, ±inf).


def _oracle(
    engine: Callable[[list[Value]], Value],
    reference: Callable[[Any], Any],
    xs: list[float],
    second: bool = True,
) -> None:
    """engine(leaves) and reference(tensor) agree in value, gradient and (if asked) hessian."""
    torch = pytest.importorskip("torch")
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    want = reference(x)
    (want_grad,) = torch.autograd.grad(want, x, create_graph=second)
    leaves = [Value(v) for v in xs]
    got = engine(leaves)
    grads = mg.gradients(got, leaves, create_graph=second)
    assert _close(got.data, want.item()), (got.data, want.item())
    for g, w in zip(grads, want_grad.tolist(), strict=True):
        assert _close(g.item() if isinstance(g, Value) else g, w), (grads, want_grad)
    if not second:
        return
    for i, g in enumerate(grads):
        row = mg.gradients(g, leaves) if isinstance(g, Value) else [0.0] * len(leaves)
        if not want_grad[i].requires_grad:
            continue
        (want_row,) = torch.autograd.grad(want_grad[i], x, retain_graph=True, allow_unused=True)
        want_row = [0.0] * len(xs) if want_row is None else want_row.tolist()
        for h, w in zip(row, want_row, strict=True):
            assert _close(float(h), w, 1e-8), (i, row, want_row)


def _close(a: float, b: float, rel: float = 1e-10) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-12 + rel * abs(b)


def _tf() -> Any:
    return pytest.importorskip("torch").nn.functional


def _t(values: Any) -> Any:
    torch = pytest.importorskip("torch")
    return torch.tensor(values, dtype=torch.float64)


_REDUCTIONS = ["mean", "sum"]


@pytest.mark.torch
@pytest.mark.parametrize("reduction", _REDUCTIONS)
@pytest.mark.parametrize(
    "name, kwargs",
    [("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
     ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}), ("huber_loss", {"delta": 2.0})],
)  # fmt: skip
def test_pointwise_losses_agree_with_pytorch_at_ties_and_at_beta(
    name: str, kwargs: dict[str, float], reduction: str
) -> None:
    width = kwargs.get("beta", kwargs.get("delta", 1.0))
    targets = [0.0, 1.0, -2.0, 0.5, 3.0, 0.25]
    xs = [0.0, 1.0 + width, -2.0 - width, 0.5 + width / 2, 10.0, -1.0]  # a tie, both edges, inside, out
    mine = getattr(losses, name)
    _oracle(
        lambda v: mine(v, targets, reduction=reduction, **kwargs),
        lambda x: getattr(_tf(), name)(x, _t(targets), reduction=reduction, **kwargs),
        xs,
        second=name != "l1_loss" and width > 0.0,  # torch's sign has no second derivative
    )


@pytest.mark.torch
@settings(max_examples=10)
@given(st.lists(reals(-5, 5), min_size=1, max_size=5), st.sampled_from(_REDUCTIONS), st.floats(0.1, 3.0))
def test_pointwise_losses_agree_with_pytorch_at_random_points(
    xs: list[float], reduction: str, width: float
) -> None:
    targets = [0.3 * i - 0.5 for i in range(len(xs))]
    for name, kwargs in [
        ("l1_loss", {}),
        ("smooth_l1_loss", {"beta": width}),
        ("huber_loss", {"delta": width}),
    ]:
        mine = getattr(losses, name)
        _oracle(
            lambda v, mine=mine, kwargs=kwargs: mine(v, targets, reduction=reduction, **kwargs),
            lambda x, name=name, kwargs=kwargs: getattr(_tf(), name)(
                x, _t(targets), reduction=reduction, **kwargs
            ),
            xs,
            second=name != "l1_loss",
        )


@pytest.mark.parametrize("x, t", [(math.nan, 0.0), (0.5, math.nan), (math.inf, math.inf)])
@pytest.mark.parametrize("loss", [losses.l1_loss, lambda x, t: losses.smooth_l1_loss(x, t, beta=0.0)])
def test_l1_loss_where_the_difference_is_nan_has_a_nan_gradient(
    x: float, t: float, loss: Callable[[Value, float], Value]
) -> None:
    # A deliberate difference (docs/pytorch.md): torch's sign(NaN) makes this gradient 0; here
    # abs'(NaN) is NaN, as the op table says, so a diverged model does not look healthy.
    leaf = Value(x)
    out = loss(leaf, t)
    assert math.isnan(out.data) and math.isnan(grads(out, [leaf])[0])


def test_nll_loss_agrees_with_pytorch(torch: Any) -> None:
    rows, targets = [[-1.0, -2.0, -0.1], [-0.5, -3.0, -9.0]], [2, 0]
    flat = [v for row in rows for v in row]
    for reduction in _REDUCTIONS:
        _oracle(
            lambda v: losses.nll_loss([v[:3], v[3:]], targets, reduction=reduction),  # noqa: B023
            lambda x: _tf().nll_loss(x.reshape(2, 3), torch.tensor(targets), reduction=reduction),  # noqa: B023
            flat,
        )
    _oracle(lambda v: losses.nll_loss(v, 1), lambda x: _tf().nll_loss(x[None], torch.tensor([1])), rows[0])


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # torch's, on "mean"
@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_agrees_with_pytorch_with_zero_targets(reduction: str, log_target: bool) -> None:
    rows = [[-1.0, -2.0, -0.5], [-0.1, -4.0, -1.5]]
    targets = [[0.0, 0.5, 0.5], [0.2, 0.0, 0.8]]
    if log_target:
        targets = [[-3.0, -0.7, -0.7], [-1.6, -20.0, -0.2]]
    flat = [v for row in rows for v in row]
    _oracle(
        lambda v: losses.kl_div([v[:3], v[3:]], targets, reduction=reduction, log_target=log_target),
        lambda x: _tf().kl_div(x.reshape(2, 3), _t(targets), reduction=reduction, log_target=log_target),
        flat,
    )
    _oracle(  # one row: torch's first dimension is its elements
        lambda v: losses.kl_div(v, targets[0], reduction=reduction, log_target=log_target),
        lambda x: _tf().kl_div(x, _t(targets[0]), reduction=reduction, log_target=log_target),
        rows[0],
    )


@pytest.mark.torch
@pytest.mark.parametrize(
    "x, t",
    [
        (0.3, 0.7),
        (0.5, 0.5),
        (0.9, 0.0),
        (1e-5, 1.0),
        (0.0, 0.0),
        (1.0, 1.0),
        (0.0, 1.0),
        (1.0, 0.0),
        (1e-50, 1.0),
        (1e-13, 0.0),  # log(1 - x) with log1p, as torch: 1 - x rounds a small x away
        (1e-17, 0.3),
        (1 - 1e-13, 1.0),
    ],
)
def test_binary_cross_entropy_agrees_with_pytorch_at_0_and_1(x: float, t: float) -> None:
    """torch clamps each log at -100, takes log(1 - x) as log1p(-x), and its slope divides by
    max(x (1 - x), 1e-12), a float32 1e-12 in torch, as here. The second derivative is
    t/x² + (1-t)/(1-x)² (torch's double backward is a relative 2e-5 off at x = 1e-5, and uses
    another epsilon at 0 and 1), so it is compared with that, away from 0 and 1."""
    inside = 1e-6 < x < 1 - 1e-6
    for reduction in _REDUCTIONS:
        torch_bce = _tf().binary_cross_entropy
        engine = lambda v: losses.binary_cross_entropy(v, [t], reduction=reduction)  # noqa: B023
        if inside:
            _oracle(engine, lambda p: torch_bce(p, _t([t]), reduction=reduction), [x], second=False)  # noqa: B023
            (slope,) = mg.gradients(engine([leaf := Value(x)]), [leaf], create_graph=True)
            (second,) = mg.gradients(slope, [leaf])
            assert second == pytest.approx(t / x**2 + (1 - t) / (1 - x) ** 2, rel=1e-9)
            continue
        leaves = [Value(x)]
        got = engine(leaves)
        got.backward()
        p = _t([x]).requires_grad_()
        want = torch_bce(p, _t([t]), reduction=reduction)
        want.backward()
        assert got.data == pytest.approx(want.item(), rel=1e-12) and leaves[0].grad == pytest.approx(
            p.grad.item(), rel=1e-12
        )


def test_binary_cross_entropy_refuses_what_torch_refuses() -> None:
    for bad in (1.5, -0.1, math.nan):
        with pytest.raises(
            ValueError, match=r"^binary_cross_entropy: .*all elements of input should be between 0 and 1"
        ):
            losses.binary_cross_entropy(bad, 1.0)


_LOGITS = [
    [0.3, -1.2, 2.0],
    [1000.0, -1000.0, 0.0],
    [1000.0, 1000.0],
    [-math.inf, 0.0, 1.0],
    [-math.inf, -math.inf],
    [math.inf, 0.0],
    [5.0],
]


@pytest.mark.torch
@pytest.mark.parametrize("logits", _LOGITS, ids=[repr(x) for x in _LOGITS])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax_agree_with_pytorch(name: str, logits: list[float]) -> None:
    """Every output, through a weighted sum (so the whole jacobian counts), and its hessian."""
    weights = [1.0, -2.0, 0.5][: len(logits)]
    mine = getattr(losses, name)

    def engine(v: list[Value]) -> Value:
        outs = mine(v)
        return sum((w * o for w, o in zip(weights, outs, strict=True)), Value(0.0))

    def reference(x: Any) -> Any:
        return (getattr(_tf(), name)(x, dim=0) * _t(weights)).sum()

    finite = all(math.isfinite(v) for v in logits)
    _oracle(engine, reference, logits, second=finite)


@pytest.mark.torch
@pytest.mark.slow
@settings(max_examples=2000)
@given(st.lists(reals(-50, 50), min_size=1, max_size=6), st.sampled_from(["softmax", "log_softmax"]))
def test_softmax_agrees_with_pytorch_over_thousands_of_logits(logits: list[float], name: str) -> None:
    _softmax_case(name, logits)


def _softmax_case(name: str, logits: list[float]) -> None:
    weights = [1.0 - 0.5 * i for i in range(len(logits))]
    mine = getattr(losses, name)
    _oracle(
        lambda v: sum((w * o for w, o in zip(weights, mine(v), strict=True)), Value(0.0)),
        lambda x: (getattr(_tf(), name)(x, dim=0) * _t(weights)).sum(),
        logits,
    )


# --- infinite and NaN inputs: what PyTorch float64 gives ---------------------------------------


def test_logsigmoid_of_minus_infinity_has_gradient_one() -> None:
    x = Value(-math.inf)
    out = logsigmoid(x)
    assert (out.data, *grads(out, [x])) == (-math.inf, 1.0)  # slope 1: logsigmoid(x) -> x


def test_bce_of_an_infinite_logit_is_infinite_with_a_finite_gradient() -> None:
    # sigmoid(inf) - t is the gradient for every target; the value is (1 - t) * inf.
    for t, value in ((0.0, math.inf), (0.25, math.inf)):
        x = Value(math.inf)
        loss = binary_cross_entropy_with_logits(x, t)
        assert (loss.data, *grads(loss, [x])) == (value, 1.0 - t)


def test_logsumexp_with_an_infinite_input_beside_a_large_finite_one_is_infinite() -> None:
    values = [Value(1000.0), Value(math.inf)]  # exp(1000 - 0) overflowed
    out = logsumexp(values)
    g = grads(out, values)
    assert out.data == math.inf
    assert g[0] == 0.0 and math.isnan(g[1])  # exp(x - out): exp(-inf) and exp(inf - inf)


@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_nan_input_makes_logsumexp_and_all_its_gradients_nan(where: int) -> None:
    values = [Value(-math.inf), Value(-math.inf), Value(-math.inf)]
    values[where] = Value(math.nan)  # Python's max() of these depends on where the NaN is
    out = logsumexp(values)
    assert math.isnan(out.data)
    assert all(math.isnan(g) for g in grads(out, values))


@pytest.mark.parametrize("logits", [[1000.0, math.inf], [math.inf, 0.0], [-math.inf, -math.inf]])
def test_cross_entropy_with_an_infinite_logit_is_nan_in_value_and_gradients(logits: list[float]) -> None:
    values = [Value(z) for z in logits]
    loss = cross_entropy(values, 0)  # as torch's log_softmax: inf - inf in every entry
    assert math.isnan(loss.data)
    assert all(math.isnan(g) for g in grads(loss, values))


# --- against torch.nn.functional, float64 -----------------------------------------------------
# Each loss over random batches of ordinary numbers, ±1e3, ±inf and NaN (the random tests), and
# over every combination of those special numbers (the grids). Two deliberate differences are
# asserted instead of compared, and docs/pytorch.md says why:
#   - logsumexp of all -inf has gradient 1/n per input (the softmax's limit); torch gives NaN;
#   - hinge_loss at a NaN score has gradient NaN (our relu's derivative at NaN); torch's relu
#     passes the gradient through.

SPECIAL = [math.inf, -math.inf, 1e3, -1e3, math.nan]
GRID = [*SPECIAL, 0.0, 1.5]
REDUCTIONS = ["mean", "sum"]


def close(a: float, b: float) -> bool:
    """Equal, both NaN, or within 1e-9 relative; 1e-14 absolute covers the last bits of a
    value near 0 (log(1 + u) where PyTorch has log1p(u))."""
    return a == b or (a != a and b != b) or abs(a - b) <= 1e-9 * abs(b) + 1e-14


def compare(
    torch: Any,
    ours: Callable[[list[Value]], Value],
    theirs: Callable[[list[Any]], Any],
    inputs: list[float],
    where: str,
    floor: float = 0.0,
) -> tuple[float, list[float]]:
    """Our loss and PyTorch's at ``inputs``: value and every gradient agree (within ``floor``
    absolute besides, where terms of both signs cancel in the sum). Returns ours."""
    values = [Value(x) for x in inputs]
    loss = ours(values)
    loss.backward()
    got = [loss.data] + [0.0 if v.grad is None else v.grad for v in values]  # None: an unused input
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out = theirs(tensors)
    out.backward()
    want = [out.item()] + [0.0 if t.grad is None else t.grad.item() for t in tensors]
    agree = (close(a, b) or abs(a - b) <= floor for a, b in zip(got, want, strict=True))
    assert all(agree), f"{where} at {inputs}: ours {got}, torch {want}"
    return got[0], got[1:]


def _stack(torch: Any, ts: list[Any]) -> Any:
    return torch.stack(ts)


def check_logsigmoid(torch: Any, x: float) -> None:
    F = torch.nn.functional
    compare(torch, lambda v: logsigmoid(v[0]), lambda t: F.logsigmoid(t[0]), [x], "logsigmoid")


def check_logsumexp(torch: Any, xs: list[float]) -> None:
    if all(x == -math.inf for x in xs):  # a deliberate difference: torch's gradient is NaN
        values = [Value(x) for x in xs]
        out = logsumexp(values)
        assert out.data == -math.inf and grads(out, values) == [1.0 / len(xs)] * len(xs)
        return
    compare(torch, logsumexp, lambda t: torch.logsumexp(_stack(torch, t), 0), xs, "logsumexp")


def check_mse(torch: Any, xs: list[float], ts: list[float], reduction: str) -> None:
    # Targets are Values too, so their gradients are compared as well.
    n = len(xs)
    compare(
        torch,
        lambda v: mse_loss(v[:n], v[n:], reduction=reduction),  # type: ignore[arg-type]
        lambda t: torch.nn.functional.mse_loss(
            _stack(torch, t[:n]), _stack(torch, t[n:]), reduction=reduction
        ),
        [*xs, *ts],
        f"mse_loss({reduction})",
    )


def check_hinge(torch: Any, xs: list[float], ts: list[float], margin: float, reduction: str) -> None:
    def theirs(t: list[Any]) -> Any:
        terms = torch.relu(margin - torch.tensor(ts, dtype=torch.float64) * _stack(torch, t))
        return terms.mean() if reduction == "mean" else terms.sum()

    if any(math.isnan(x) for x in xs):  # a deliberate difference: torch's relu passes NaN's gradient
        values = [Value(x) for x in xs]
        loss = hinge_loss(values, ts, margin, reduction)  # type: ignore[arg-type]
        g = grads(loss, values)
        assert math.isnan(loss.data) and all(
            math.isnan(gi) for x, gi in zip(xs, g, strict=True) if math.isnan(x)
        )
        return
    compare(torch, lambda v: hinge_loss(v, ts, margin, reduction), theirs, xs, "hinge_loss")  # type: ignore[arg-type]


def check_bce(torch: Any, xs: list[float], ts: list[float], reduction: str) -> None:
    compare(
        torch,
        lambda v: binary_cross_entropy_with_logits(v, ts, reduction),  # type: ignore[arg-type]
        lambda t: torch.nn.functional.binary_cross_entropy_with_logits(
            _stack(torch, t), torch.tensor(ts, dtype=torch.float64), reduction=reduction
        ),
        xs,
        "binary_cross_entropy_with_logits",
    )


def check_cross_entropy(torch: Any, rows: list[list[float]], targets: list[int], reduction: str) -> None:
    c = len(rows[0])
    flat = [x for row in rows for x in row]
    compare(
        torch,
        lambda v: cross_entropy([v[i : i + c] for i in range(0, len(v), c)], targets, reduction),  # type: ignore[arg-type]
        lambda t: torch.nn.functional.cross_entropy(
            _stack(torch, t).reshape(len(rows), c), torch.tensor(targets), reduction=reduction
        ),
        flat,
        f"cross_entropy({reduction})",
    )


def test_every_loss_at_every_combination_of_special_inputs_matches_torch(torch: Any) -> None:
    for x in GRID:
        check_logsigmoid(torch, x)
        for t in (0.0, 0.3, 1.0):
            check_bce(torch, [x], [t], "mean")
        for sign in (-1.0, 1.0):
            check_hinge(torch, [x], [sign], 1.0, "mean")
        for y in GRID:
            check_logsumexp(torch, [x, y])
            check_mse(torch, [x], [y], "mean")
            for k in (0, 1):
                check_cross_entropy(torch, [[x, y]], [k], "mean")
                check_cross_entropy(torch, [[x, y], [0.5, -0.5]], [k, 1 - k], "sum")


numbers = st.one_of(reals(-30.0, 30.0), reals(-1e3, 1e3), st.sampled_from(SPECIAL))


@st.composite
def loss_cases(draw: st.DrawFn) -> tuple[str, tuple[Any, ...]]:
    """One loss and its arguments: a batch of 1-4 samples of random and special numbers."""
    n = draw(st.integers(1, 4))
    batch = st.lists(numbers, min_size=n, max_size=n)
    reduction = draw(st.sampled_from(REDUCTIONS))
    name = draw(st.sampled_from(["logsigmoid", "logsumexp", "mse", "hinge", "bce", "cross_entropy"]))
    if name == "logsigmoid":
        return name, (draw(numbers),)
    if name == "logsumexp":
        return name, (draw(batch),)
    if name == "mse":
        return name, (draw(batch), draw(batch), reduction)
    if name == "hinge":
        signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
        return name, (draw(batch), signs, draw(reals(0.0, 2.0)), reduction)
    if name == "bce":
        probabilities = st.one_of(st.sampled_from([0.0, 1.0]), reals(0.0, 1.0))
        return name, (draw(batch), draw(st.lists(probabilities, min_size=n, max_size=n)), reduction)
    c = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(numbers, min_size=c, max_size=c), min_size=n, max_size=n))
    return name, (rows, draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), reduction)


CHECKS: dict[str, Callable[..., None]] = {
    "logsigmoid": check_logsigmoid,
    "logsumexp": check_logsumexp,
    "mse": check_mse,
    "hinge": check_hinge,
    "bce": check_bce,
    "cross_entropy": check_cross_entropy,
}


@settings(max_examples=60)
@given(loss_cases())
def test_losses_agree_with_torch_at_random_and_extreme_inputs(
    torch: Any, case: tuple[str, tuple[Any, ...]]
) -> None:
    name, args = case
    CHECKS[name](torch, *args)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=3000)
@given(loss_cases())
def test_losses_agree_with_torch_thoroughly(torch: Any, case: tuple[str, tuple[Any, ...]]) -> None:
    name, args = case
    CHECKS[name](torch, *args)


# --- what torch refuses, and arguments of the wrong type -----------------------------------------


@pytest.mark.parametrize("t", [1.5, -0.1, math.nan, math.inf])
def test_binary_cross_entropy_refuses_a_target_outside_0_and_1_as_torch(t: float) -> None:
    # torch: "all elements of target should be between 0 and 1"; a target of 2 at x = 0 cost
    # 200 with slope -2e12 here, without a word.
    with pytest.raises(ValueError, match=r"^binary_cross_entropy: .*target should be between 0 and 1"):
        losses.binary_cross_entropy([0.5, 0.0], [1.0, t])


TARGETED: list[tuple[str, Callable[[Any], Value]]] = [
    ("binary_cross_entropy", lambda t: losses.binary_cross_entropy([0.5], [t])),
    ("binary_cross_entropy_with_logits", lambda t: binary_cross_entropy_with_logits([0.5], [t])),
    ("hinge_loss", lambda t: hinge_loss([0.5], [t])),
    ("kl_div", lambda t: losses.kl_div([-0.5], [t])),
]


@pytest.mark.parametrize(("name", "loss"), TARGETED)
@pytest.mark.parametrize("bad", ["1", b"1", None, [1.0], 1j])
def test_a_target_that_is_no_real_number_is_a_type_error_naming_the_loss(
    name: str, loss: Callable[[Any], Value], bad: Any
) -> None:
    # float("1") is 1.0: a string target was taken as its number.
    with pytest.raises(TypeError, match=rf"^{name}: target"):
        loss(bad)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: hinge_loss([0.5], [1.0], margin="1"), "hinge_loss: margin"),
        (lambda: losses.smooth_l1_loss([0.5], [1.0], beta="1"), "smooth_l1_loss: beta"),
        (lambda: losses.huber_loss([0.5], [1.0], delta="1"), "huber_loss: delta"),
    ],
)
def test_a_constant_that_is_no_real_number_is_a_type_error_naming_the_loss(call: Any, words: str) -> None:
    with pytest.raises(TypeError, match=f"^{words}"):
        call()


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
def test_kl_div_with_a_log_target_past_the_floats_is_an_overflow_naming_kl_div(reduction: Any) -> None:
    # exp(1000) raised a bare "math range error" (torch gives inf).
    with pytest.raises(OverflowError, match=r"^kl_div: "):
        losses.kl_div([-0.5, -1.0], [1000.0, 0.0], reduction, log_target=True)


def test_class_losses_take_numpy_arrays_as_lists() -> None:
    rows, targets = [[0.5, -1.0, 2.0], [0.0, 3.0, -2.0]], [2, 0]
    arrays = np.array(rows), np.array(targets)
    assert cross_entropy(*arrays).data == cross_entropy(rows, targets).data
    assert losses.nll_loss(*arrays).data == losses.nll_loss(rows, targets).data
    probabilities = [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]
    want = losses.kl_div(rows, probabilities, "batchmean").data
    assert losses.kl_div(np.array(rows), np.array(probabilities), "batchmean").data == want
    # a 0-d array is one class index, as a numpy integer is
    assert cross_entropy(rows[0], np.array(2)).data == cross_entropy(rows[0], 2).data
    assert losses.nll_loss(rows[0], np.array(1)).data == losses.nll_loss(rows[0], 1).data


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.nll_loss([[-0.5, -0.6], -1.0], [1, 0]),
        lambda: losses.kl_div([-0.5, [-0.6]], [0.5, 0.5]),
        lambda: losses.kl_div([[-0.5, -0.6]], [0.5, 0.5]),
    ],
)
def test_rows_mixed_with_single_numbers_are_refused_naming_the_loss(call: Any) -> None:
    # They raised "'float' object is not iterable".
    with pytest.raises((TypeError, ValueError), match=r"^(nll_loss|kl_div): "):
        call()


# --- the other losses against torch.nn.functional at random and special inputs -------------------
# l1, smooth_l1 and huber (inputs and targets both Values), kl_div (either target kind), nll_loss
# and binary_cross_entropy (probabilities with 0, 1 and the tiny ones), over batches of ordinary
# and special numbers, in value and every gradient. The deliberate difference (docs/pytorch.md):
# l1's slope where the difference is NaN is NaN here, 0 in torch.

PROBABILITIES = st.one_of(reals(0.0, 1.0), st.sampled_from([0.0, 1.0, 5e-324, 1e-13, 1.0 - 2.0**-53, 0.5]))
WIDTHS = st.one_of(st.sampled_from([0.0, 1.0, 1e-300, math.inf]), reals(0.01, 5.0))


def _cancelling(xs: list[float]) -> float:
    """What rounding leaves of a sum of terms of both signs, each at most ``x`` in size: the two
    engines add in different orders (1e-7 + 1000 - 1000 is 1.00000000058e-07 in one)."""
    return 4.0 * len(xs) * max((abs(x) for x in xs if math.isfinite(x)), default=0.0) * 2.0**-52


def _torch_args(torch: Any, ts: list[Any], n: int) -> tuple[Any, Any]:
    return torch.stack(ts[:n]), torch.stack(ts[n:])


@st.composite
def more_loss_cases(draw: st.DrawFn) -> tuple[str, tuple[Any, ...]]:
    """One of the other losses and its arguments, drawn as ``loss_cases`` draws its own."""
    n = draw(st.integers(1, 4))
    batch = st.lists(numbers, min_size=n, max_size=n)
    reduction = draw(st.sampled_from(REDUCTIONS))
    name = draw(st.sampled_from(["l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "nll_loss", "bce"]))
    if name in ("l1_loss", "smooth_l1_loss", "huber_loss"):
        width = draw(WIDTHS)
        assume(name != "huber_loss" or width > 0.0)
        return name, (draw(batch), draw(batch), reduction, width)
    if name == "kl_div":
        log_target = draw(st.booleans())
        targets = (
            st.one_of(reals(-30.0, 30.0), st.sampled_from([-math.inf, math.nan]))
            if log_target
            else PROBABILITIES
        )
        rows = draw(st.integers(1, 3))
        xs = draw(st.lists(batch, min_size=rows, max_size=rows))
        ts = draw(st.lists(st.lists(targets, min_size=n, max_size=n), min_size=rows, max_size=rows))
        return name, (xs, ts, draw(st.sampled_from([*REDUCTIONS, "batchmean"])), log_target)
    if name == "nll_loss":
        c = n
        rows = draw(st.lists(st.lists(numbers, min_size=c, max_size=c), min_size=1, max_size=3))
        targets = draw(st.lists(st.integers(0, c - 1), min_size=len(rows), max_size=len(rows)))
        return name, (rows, targets, reduction)
    xs = draw(st.lists(PROBABILITIES, min_size=n, max_size=n))
    return name, (xs, draw(st.lists(PROBABILITIES, min_size=n, max_size=n)), reduction)


def check_more(torch: Any, name: str, args: tuple[Any, ...]) -> None:
    F = torch.nn.functional
    if name in ("l1_loss", "smooth_l1_loss", "huber_loss"):
        xs, ts, reduction, width = args
        n = len(xs)
        kwargs = {} if name == "l1_loss" else {"beta" if name == "smooth_l1_loss" else "delta": width}
        ours = getattr(losses, name)
        if (name == "l1_loss" or width == 0.0) and any(
            math.isnan(x - t) for x, t in zip(xs, ts, strict=True)
        ):
            values = [Value(x) for x in [*xs, *ts]]  # the deliberate difference: NaN, not 0
            loss = ours(values[:n], values[n:], reduction, **kwargs)
            g = grads(loss, values)
            assert math.isnan(loss.data) and all(
                math.isnan(g[i]) for i in range(n) if math.isnan(xs[i] - ts[i])
            )
            return
        compare(
            torch,
            lambda v: ours(v[:n], v[n:], reduction, **kwargs),
            lambda t: getattr(F, name)(*_torch_args(torch, t, n), reduction=reduction, **kwargs),
            [*xs, *ts],
            f"{name}({reduction}, {kwargs})",
        )
    elif name == "kl_div":
        xs, ts, reduction, log_target = args
        rows, c = len(xs), len(xs[0])
        assume(not log_target or all(t <= 700.0 for row in ts for t in row if t == t))  # exp overflows
        compare(
            torch,
            lambda v: losses.kl_div([v[i : i + c] for i in range(0, len(v), c)], ts, reduction, log_target),
            lambda t: F.kl_div(
                torch.stack(t).reshape(rows, c),
                torch.tensor(ts, dtype=torch.float64),
                reduction=reduction,
                log_target=log_target,
            ),
            [x for row in xs for x in row],
            f"kl_div({reduction}, log_target={log_target})",
            floor=_cancelling(
                [
                    (math.exp(t) if log_target else 1.0) * (abs(t) + abs(x)) + 1.0
                    for x_row, t_row in zip(xs, ts, strict=True)
                    for x, t in zip(x_row, t_row, strict=True)
                    if math.isfinite(x) and math.isfinite(t)
                ]
            ),
        )
    elif name == "nll_loss":
        rows, targets, reduction = args
        c = len(rows[0])
        compare(
            torch,
            lambda v: losses.nll_loss([v[i : i + c] for i in range(0, len(v), c)], targets, reduction),
            lambda t: F.nll_loss(
                torch.stack(t).reshape(len(rows), c), torch.tensor(targets), reduction=reduction
            ),
            [x for row in rows for x in row],
            f"nll_loss({reduction})",
            floor=_cancelling([x for row in rows for x in row]),
        )
    else:
        xs, ts, reduction = args
        compare(
            torch,
            lambda v: losses.binary_cross_entropy(v, ts, reduction),
            lambda t: F.binary_cross_entropy(
                torch.stack(t), torch.tensor(ts, dtype=torch.float64), reduction=reduction
            ),
            xs,
            f"binary_cross_entropy({reduction})",
        )


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # torch's kl_div "mean"
@settings(max_examples=20)
@given(more_loss_cases())
def test_more_losses_agree_with_torch_at_random_and_special_inputs(
    torch: Any, case: tuple[str, tuple[Any, ...]]
) -> None:
    check_more(torch, *case)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
@settings(parent=settings.get_profile("thorough"), max_examples=3000)
@given(more_loss_cases())
def test_more_losses_agree_with_torch_thoroughly(torch: Any, case: tuple[str, tuple[Any, ...]]) -> None:
    check_more(torch, *case)


PAIRED = {
    "mse_loss": mse_loss,
    "l1_loss": losses.l1_loss,
    "smooth_l1_loss": losses.smooth_l1_loss,
    "huber_loss": losses.huber_loss,
    "hinge_loss": hinge_loss,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
    "binary_cross_entropy": losses.binary_cross_entropy,
}


@pytest.mark.parametrize("name", sorted(PAIRED))
def test_losses_of_samples_take_numpy_arrays_as_lists(name: str) -> None:
    # An array was taken as one output: "Value expects a real number, got ndarray".
    xs, ts = [0.25, 0.75, 0.5], [1.0, -1.0, 1.0] if name == "hinge_loss" else [1.0, 0.0, 0.5]
    loss = PAIRED[name]
    want = loss(xs, ts).data
    assert loss(np.array(xs), np.array(ts)).data == want
    assert loss(xs, np.array(ts)).data == want
    assert loss(np.array(xs), ts).data == want


@pytest.mark.parametrize("name", sorted(PAIRED))
def test_one_output_with_many_targets_is_a_value_error_naming_the_loss(name: str) -> None:
    # It raised "unsupported operand type(s) for -: 'Value' and 'list'".
    with pytest.raises(ValueError, match=rf"^{name}: a single outputs? but 2 targets"):
        PAIRED[name](0.5, [1.0, 1.0])


@pytest.mark.parametrize("name", sorted(PAIRED))
def test_an_output_that_is_no_number_is_a_type_error_naming_the_loss(name: str) -> None:
    with pytest.raises(TypeError, match=rf"^{name}"):
        PAIRED[name]([0.5, "x"], [1.0, 1.0])
