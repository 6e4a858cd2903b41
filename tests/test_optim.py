"""SGD and Adam against steps computed by hand from PyTorch's update rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from microgrsucc import Value, detect_anomaly
from microgrsucc.optim import SGD, Adam, Optimizer
from microgrsucc.testing.strategies import reals


def run(optimizer: Optimizer, loss_of: object, steps: int) -> list[float]:
    """Take ``steps`` steps on ``loss_of(p)`` for the single parameter; return p after each."""
    (p,) = optimizer.params
    trace = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(p).backward()  # type: ignore[operator]
        optimizer.step()
        trace.append(p.data)
    return trace


def linear(p: Value) -> Value:
    return 2.0 * p  # gradient 2 everywhere


def square(p: Value) -> Value:
    return p * p  # gradient 2p


def test_sgd_plain_step() -> None:
    assert run(SGD([Value(2.0)], lr=0.1), square, 2) == pytest.approx([2.0 - 0.4, 1.6 - 0.32])


def test_sgd_momentum_buffer_starts_at_the_first_gradient() -> None:
    # b1 = g = 2; b2 = 0.9*2 + 2 = 3.8; b3 = 0.9*3.8 + 2 = 5.42
    trace = run(SGD([Value(1.0)], lr=0.1, momentum=0.9), linear, 3)
    assert trace == pytest.approx([1.0 - 0.2, 0.8 - 0.38, 0.42 - 0.542])


def test_sgd_weight_decay_is_added_to_the_gradient() -> None:
    # g = 2 + 0.5 p: p1 = 1 - 0.1*2.5 = 0.75; p2 = 0.75 - 0.1*(2 + 0.375) = 0.5125
    assert run(SGD([Value(1.0)], lr=0.1, weight_decay=0.5), linear, 2) == pytest.approx([0.75, 0.5125])


def test_sgd_weight_decay_goes_into_the_momentum_buffer() -> None:
    # g1 = 2.5, b1 = 2.5, p1 = 0.75; g2 = 2.375, b2 = 0.9*2.5 + 2.375 = 4.625, p2 = 0.75 - 0.4625
    trace = run(SGD([Value(1.0)], lr=0.1, momentum=0.9, weight_decay=0.5), linear, 2)
    assert trace == pytest.approx([0.75, 0.2875])


def test_sgd_with_zero_learning_rate_changes_nothing() -> None:
    assert run(SGD([Value(1.5)], lr=0.0, momentum=0.9), square, 3) == [1.5, 1.5, 1.5]


def test_adam_first_two_steps_by_hand() -> None:
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 0.1  # a large eps, so where it is added shows
    # step 1 at p = 1: g = 2, m = 0.2, v = 0.004; m^ = 2, v^ = 4; p -= 0.1 * 2 / (2 + 0.1)
    p1 = 1.0 - lr * 2.0 / (2.0 + eps)
    # step 2: g = 2 p1; m = 0.9*0.2 + 0.1 g; v = 0.999*0.004 + 0.001 g^2; corrected by 1 - beta^2
    g = 2.0 * p1
    m = b1 * 0.2 + (1 - b1) * g
    v = b2 * 0.004 + (1 - b2) * g * g
    p2 = p1 - lr * (m / (1 - b1**2)) / (math.sqrt(v / (1 - b2**2)) + eps)
    trace = run(Adam([Value(1.0)], lr=lr, betas=(b1, b2), eps=eps), square, 2)
    assert trace == pytest.approx([p1, p2], rel=1e-12)
    assert trace[0] == pytest.approx(0.9047619047619048, rel=1e-12)


def test_adam_weight_decay_is_added_to_the_gradient() -> None:
    # g = 2 + 1.0 * p = 3 at p = 1; the first step moves by lr * 3 / (3 + eps)
    trace = run(Adam([Value(1.0)], lr=0.5, eps=1.0, weight_decay=1.0), linear, 1)
    assert trace == pytest.approx([1.0 - 0.5 * 3.0 / 4.0])


@given(reals(-1e3, 1e3).filter(lambda g: abs(g) > 1e-3), reals(1e-4, 1.0))
def test_adam_first_step_has_size_lr_whatever_the_gradient_scale(g: float, lr: float) -> None:
    # With the bias corrections m^ = g and v^ = g^2, so the first step is lr * g / (|g| + eps):
    # lr * sign(g) up to eps.
    p = Value(0.0)
    optimizer = Adam([p], lr=lr)
    (g * p).backward()
    optimizer.step()
    assert p.data == pytest.approx(-lr * g / (abs(g) + 1e-8), rel=1e-12)
    assert p.data == pytest.approx(-math.copysign(lr, g), rel=1e-4)


def test_adam_steps_with_a_constant_gradient_stay_lr() -> None:
    trace = run(Adam([Value(0.0)], lr=0.01), linear, 5)
    assert trace == pytest.approx([-0.01, -0.02, -0.03, -0.04, -0.05], rel=1e-6)


def test_zero_grad_clears_gradients() -> None:
    a, b = Value(1.0), Value(2.0)
    optimizer = SGD([a, b], lr=0.1)
    (a * b).backward()
    assert (a.grad, b.grad) == (2.0, 1.0)
    optimizer.zero_grad()
    assert (a.grad, b.grad) == (0.0, 0.0)


def test_params_may_be_a_generator() -> None:
    params = [Value(1.0), Value(2.0)]
    assert SGD(iter(params), lr=0.1).params == params


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda p: SGD(p, lr=math.nan), "Invalid learning rate: nan"),
        (lambda p: SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: SGD(p, lr=0.1, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
        (lambda p: Adam(p, lr=-1.0), "Invalid learning rate: -1.0"),
        (lambda p: Adam(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (lambda p: Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (lambda p: Adam(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ],
)
def test_bad_hyperparameters_raise_as_in_pytorch(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        make([Value(1.0)])  # type: ignore[operator]


def test_empty_parameter_list_raises() -> None:
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])


def test_parameters_must_be_values() -> None:
    with pytest.raises(TypeError, match="got float"):
        SGD([1.0], lr=0.1)  # type: ignore[list-item]


def test_a_parameter_given_twice_raises() -> None:
    p = Value(1.0)
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p], lr=0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD([p], lr=0.1),
        lambda p: SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda p: Adam([p], lr=0.1, weight_decay=0.01),
    ],
)
def test_a_step_after_create_graph_uses_the_gradients_float_value(make: object) -> None:
    p, q = Value(2.0), Value(2.0)
    opt_p, opt_q = make(p), make(q)  # type: ignore[operator]
    for _ in range(2):
        opt_p.zero_grad()
        (p * p).backward(create_graph=True)
        assert isinstance(p.grad, Value)
        opt_p.step()
        opt_q.zero_grad()
        (q * q).backward()
        opt_q.step()
        assert type(p.data) is float  # not a Value: the parameter is not corrupted
        assert p.data == q.data


def test_adam_with_eps_zero_gives_pytorchs_nan_for_a_zero_gradient() -> None:
    p = Value(1.0)
    opt = Adam([p], lr=0.1, eps=0.0)
    (0.0 * p).backward()
    opt.step()  # torch.optim.Adam(eps=0) gives 0/0 = nan here; no ZeroDivisionError
    assert math.isnan(p.data)
    with detect_anomaly(), pytest.raises(FloatingPointError, match="nan"):
        p * 2.0  # as the docstring promises, the next op that uses it reports the NaN


def test_adam_with_eps_zero_steps_normally_and_divides_by_zero_as_floats_do() -> None:
    p = Value(1.0)
    opt = Adam([p], lr=0.1, eps=0.0)
    (3.0 * p).backward()
    opt.step()
    assert p.data == pytest.approx(0.9)  # the first step is lr * g / |g|
    tiny = Value(1.0)
    opt = Adam([tiny], lr=0.1, eps=0.0)
    (1e-200 * tiny).backward()  # g * g underflows to 0 while g does not: g / 0 = inf
    opt.step()
    assert tiny.data == -math.inf
