"""SGD and Adam against steps computed by hand from PyTorch's update rules."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrsucc import FlatParameter, Value, detect_anomaly
from microgrsucc.optim import SGD, Adam, AdamW, Optimizer
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


def test_zero_grad_sets_gradients_to_none_by_default_or_to_zero() -> None:
    a, b = Value(1.0), Value(2.0)
    optimizer = SGD([a, b], lr=0.1)
    (a * b).backward()
    assert (a.grad, b.grad) == (2.0, 1.0)
    optimizer.zero_grad()
    assert (a.grad, b.grad) == (None, None)  # as torch's set_to_none=True default
    (a * b).backward()
    optimizer.zero_grad(set_to_none=False)
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
        (lambda p: AdamW(p, lr=-1.0), "Invalid learning rate: -1.0"),
        (lambda p: AdamW(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
        (lambda p: AdamW(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (lambda p: SGD(p, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
        (
            lambda p: SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
            "Nesterov momentum requires a momentum and zero dampening",
        ),
    ],
)
def test_bad_hyperparameters_raise_as_in_pytorch(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        make([Value(1.0)])  # type: ignore[operator]


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda p: SGD(p, lr=Value(0.1)), "SGD: lr"),
        (lambda p: SGD(p, lr=np.array([0.1])), "SGD: lr"),
        (lambda p: SGD(p, lr=0.1, momentum="0.9"), "SGD: momentum"),
        (lambda p: SGD(p, lr=0.1, dampening=None), "SGD: dampening"),
        (lambda p: Adam(p, betas=(0.9, complex(0.999))), r"Adam: betas\[1\]"),
        (lambda p: AdamW(p, eps=True), "AdamW: eps"),
    ],
)
def test_a_hyperparameter_that_is_not_a_real_number_is_a_type_error(make: Any, name: str) -> None:
    for params in ([Value(1.0)], FlatParameter([Value(1.0)])):
        with pytest.raises(TypeError, match=f"^{name} expects a real number"):
            make(params)


@pytest.mark.parametrize("betas", [0.9, (0.9,), (0.9, 0.99, 0.999)])
def test_adam_betas_must_be_a_pair(betas: Any) -> None:
    with pytest.raises(TypeError, match="Adam: betas must be a pair"):
        Adam([Value(1.0)], betas=betas)


def test_a_learning_rate_set_later_as_a_numpy_scalar_still_steps_in_python_floats() -> None:
    # As a schedule would set it; the step is the one torch takes with float(lr).
    for make in (SGD, Adam):
        p = Value(1.0)
        opt = make([p], lr=0.5)
        opt.lr = np.float32(0.1)
        p.grad = 0.3
        opt.step()
        lr = float(np.float32(0.1))
        expected = 1.0 - lr * 0.3 if make is SGD else 1.0 - lr * 0.3 / (0.3 + 1e-8)  # Adam: g / (|g| + eps)
        assert type(p.data) is float
        assert p.data == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("make", [SGD, Adam, AdamW])
@pytest.mark.parametrize("name", ["lr", "weight_decay"])
def test_a_hyperparameter_set_later_as_a_string_is_a_type_error_at_the_step(make: Any, name: str) -> None:
    # torch's step raises TypeError for lr = "0.1"; float("0.1") stepped as if it were 0.1
    p = Value(1.0)
    opt = make([p], lr=0.5)
    setattr(opt, name, "0.1")
    p.grad = 0.3
    with pytest.raises(TypeError, match=f"{make.__name__}: {name} expects a real number, got str"):
        opt.step()
    assert p.data == 1.0


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


# --- parameters without a gradient, per-parameter state, the options ---------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1, weight_decay=0.1),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda ps: Adam(ps, lr=0.1, weight_decay=0.1),
        lambda ps: AdamW(ps, lr=0.1),
    ],
)
def test_a_parameter_the_loss_never_uses_does_not_move(make: object) -> None:
    used, unused = Value(1.0), Value(1.0)
    opt = make([used, unused])  # type: ignore[operator]
    for _ in range(2):
        opt.zero_grad()
        (used * used).backward()
        opt.step()
    # PyTorch's loop leaves it at 1.0 (its grad stays None); decaying it would give 0.9801.
    assert unused.data == 1.0
    assert unused.grad is None
    assert used.data != 1.0
    assert unused not in opt.state


def test_a_zero_gradient_is_a_gradient_that_weight_decay_acts_on() -> None:
    p = Value(1.0)
    opt = SGD([p], lr=0.1, weight_decay=0.1)
    opt.zero_grad(set_to_none=False)
    assert p.grad is None  # no gradient yet: torch's zero_grad(set_to_none=False) leaves None too
    opt.step()
    (p * 0.0).backward()
    for _ in range(2):
        opt.zero_grad(set_to_none=False)  # grad 0.0, not None: torch decays it too
        opt.step()
    assert p.data == pytest.approx(0.99**2)


def test_adam_counts_steps_per_parameter() -> None:
    # b gets its first gradient at the second step: its bias corrections are those of step 1,
    # so its first move has size lr (Adam's first step is lr * g / |g|), as in PyTorch.
    a, b = Value(1.0), Value(1.0)
    opt = Adam([a, b], lr=0.1)
    opt.zero_grad()
    (3.0 * a).backward()
    opt.step()
    opt.zero_grad()
    (3.0 * a + 5.0 * b).backward()
    opt.step()
    assert b.data == pytest.approx(0.9, rel=1e-9)
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1


def test_sgd_dampening_scales_later_gradients_into_the_buffer() -> None:
    # g = 2 each step: b1 = 2, b2 = 0.9*2 + 0.5*2 = 2.8; p = 1 - 0.2 - 0.28
    trace = run(SGD([Value(1.0)], lr=0.1, momentum=0.9, dampening=0.5), linear, 2)
    assert trace == pytest.approx([0.8, 0.52])


def test_sgd_nesterov_steps_along_gradient_plus_momentum_times_buffer() -> None:
    # g = 2: b1 = 2, step 2 + 0.9*2 = 3.8; b2 = 3.8, step 2 + 0.9*3.8 = 5.42
    trace = run(SGD([Value(1.0)], lr=0.1, momentum=0.9, nesterov=True), linear, 2)
    assert trace == pytest.approx([1.0 - 0.38, 0.62 - 0.542])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: SGD([p], lr=0.1, maximize=True), [1.2, 1.4]),  # + lr * 2 each step
        (lambda p: Adam([p], lr=0.1, maximize=True), [1.1, 1.2]),  # + lr each step (constant g)
    ],
)
def test_maximize_climbs(make: object, expected: list[float]) -> None:
    assert run(make(Value(1.0)), linear, 2) == pytest.approx(expected)  # type: ignore[operator]


def test_adam_amsgrad_divides_by_the_largest_second_moment() -> None:
    # Gradients 10 then 1, b1 = 0, b2 = 0.5: v1 = 50, v2 = 25.5, but v-hat stays 50;
    # step 2 is lr * 1 / (sqrt(50 / 0.75) + 0) = 0.1 / sqrt(66.67).
    p = Value(0.0)
    opt = Adam([p], lr=0.1, betas=(0.0, 0.5), eps=0.0, amsgrad=True)
    for g in (10.0, 1.0):
        opt.zero_grad()
        (g * p).backward()
        opt.step()
    first = -0.1 * 10.0 / math.sqrt(50.0 / 0.5)
    assert p.data == pytest.approx(first - 0.1 * 1.0 / math.sqrt(50.0 / 0.75))
    assert opt.state[p]["max_exp_avg_sq"] == 50.0


def test_adamw_decays_the_parameter_not_the_gradient() -> None:
    # First step: p = 1 * (1 - 0.1 * 0.5) = 0.95, then Adam's lr * g / |g| = 0.1: 0.85.
    p = Value(1.0)
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    (3.0 * p).backward()
    opt.step()
    assert p.data == pytest.approx(0.85)


# --- against torch.optim, float64 ----------------------------------------------------------------
# Random problems of a few parameters and steps. Each step's loss is a random quadratic of a
# random non-empty subset of the parameters, so some parameters get no gradient in some steps
# (grad None after zero_grad(), or 0.0 with set_to_none=False), and optimizer state starts
# at different steps for different parameters. Half the problems give the optimizer a
# FlatParameter of the Values instead of the list.

KINDS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}


@st.composite
def options(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(KINDS)))

    def maybe(s: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
        return st.one_of(st.just(0.0), s)  # zero is a case of its own

    opts: dict[str, Any] = {"lr": draw(reals(0.0, 1.0)), "maximize": draw(st.booleans())}
    if kind == "SGD":
        opts["momentum"] = draw(maybe(reals(0.0, 0.99)))
        opts["dampening"] = draw(maybe(reals(0.0, 1.0)))
        opts["weight_decay"] = draw(maybe(reals(0.0, 1.0)))
        opts["nesterov"] = opts["momentum"] > 0.0 and opts["dampening"] == 0.0 and draw(st.booleans())
    else:
        opts["betas"] = (draw(maybe(reals(0.0, 0.999))), draw(maybe(reals(0.0, 0.9999))))
        opts["eps"] = draw(st.sampled_from([1e-8, 0.0, 1e-3]))
        opts["weight_decay"] = draw(maybe(reals(0.0, 1.0)))
        opts["amsgrad"] = draw(st.booleans())
    return kind, opts


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    steps = draw(st.integers(1, 6))
    return {
        "start": draw(st.lists(reals(-3.0, 3.0), min_size=n, max_size=n)),
        # Per step: which parameters the loss uses (at least one), and a, b of a p^2 + b p each.
        "used": draw(
            st.lists(
                st.lists(st.booleans(), min_size=n, max_size=n).filter(any), min_size=steps, max_size=steps
            )
        ),
        "coefficients": draw(st.lists(st.tuples(reals(-2.0, 2.0), reals(-2.0, 2.0)), min_size=n, max_size=n)),
        "set_to_none": draw(st.booleans()),
        "options": draw(options()),
        "flat": draw(st.booleans()),  # the optimizer given a FlatParameter of the Values
        # The hyperparameters' type: a numpy scalar (from a schedule) must not bring its own
        # arithmetic into the steps; torch gets the same numbers as Python floats.
        "number": draw(st.sampled_from(sorted(NUMBERS))),
    }


NUMBERS: dict[str, Any] = {
    "float": float,
    "numpy float32": np.float32,
    "numpy float64": np.float64,
    "Fraction": Fraction,
}


def typed(opts: dict[str, Any], number: Any) -> dict[str, Any]:
    """``opts`` with every float (and each of ``betas``) made a ``number``."""
    return {
        k: tuple(number(b) for b in v) if k == "betas" else v if isinstance(v, bool) else number(v)
        for k, v in opts.items()
    }


def same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_against_torch(torch: Any, problem: dict[str, Any]) -> None:
    kind, opts = problem["options"]
    opts = typed(opts, NUMBERS[problem["number"]])
    ours = [Value(x) for x in problem["start"]]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in problem["start"]]
    try:
        opt = KINDS[kind](FlatParameter(ours) if problem["flat"] else ours, **opts)
    except ValueError:  # the numbers as typed (a momentum 1e-75 is 0 in float32): torch refuses too
        with pytest.raises(ValueError):
            getattr(torch.optim, kind)(theirs, **typed(opts, float), foreach=False)
        return
    reference = getattr(torch.optim, kind)(theirs, **typed(opts, float), foreach=False)
    for step, used in enumerate(problem["used"]):
        for params, optimizer in ((ours, opt), (theirs, reference)):
            optimizer.zero_grad(set_to_none=problem["set_to_none"])
            terms = [
                a * p * p + b * p
                for p, (a, b), u in zip(params, problem["coefficients"], used, strict=True)
                if u
            ]
            sum(terms[1:], terms[0]).backward()
            optimizer.step()
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            assert same(p.data, q.item()), f"step {step}, parameter {i}: {p.data!r} vs torch {q.item()!r}"
            assert type(p.data) is float, f"step {step}, parameter {i}: {p.data!r}"


@settings(max_examples=25)
@given(problems())
def test_optimizers_agree_with_torch_optim(torch: Any, problem: dict[str, Any]) -> None:
    check_against_torch(torch, problem)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=2000)
@given(problems())
def test_optimizers_agree_with_torch_optim_thoroughly(torch: Any, problem: dict[str, Any]) -> None:
    check_against_torch(torch, problem)


# --- gradients written by hand ------------------------------------------------------------------
# A user may write p.grad themselves (clipping or averaging with numpy). The step takes it as a
# real number: a numpy float32 is stepped in float64 as torch steps a float64 tensor, and a
# gradient that is no real number is refused before any parameter or state has changed.

STEPPERS = [
    lambda ps: SGD(ps, lr=0.1),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda ps: Adam(ps, lr=0.1),
    lambda ps: Adam(ps, lr=0.1, amsgrad=True, maximize=True),
    lambda ps: AdamW(ps, lr=0.1),
]


@pytest.mark.parametrize("make", STEPPERS)
@pytest.mark.parametrize("number", [np.float32, np.float64, Fraction])
def test_a_gradient_written_as_another_real_type_steps_as_its_float(make: Any, number: Any) -> None:
    g = number(0.1)
    p, q = Value(1.0), Value(1.0)
    p.grad, q.grad = g, float(g)  # the oracle: the same number as a Python float
    make([p]).step()
    make([q]).step()
    assert type(p.data) is float, f"{p.data!r}"
    assert p.data == q.data


@pytest.mark.parametrize("make", STEPPERS)
@pytest.mark.parametrize("bad", ["0.1", None.__class__, [1.0], 1j])
def test_a_gradient_that_is_no_real_number_is_refused_before_anything_moves(make: Any, bad: Any) -> None:
    a, b = Value(1.0), Value(2.0)
    a.grad, b.grad = 1.0, bad
    opt = make([a, b])
    with pytest.raises(TypeError, match=rf"{type(opt).__name__}: .*parameter 1.*grad"):
        opt.step()
    assert (a.data, b.data) == (1.0, 2.0)
    assert opt.state == {}


def test_a_model_given_as_params_says_to_give_its_parameters() -> None:
    from microgrsucc.nn import MLP

    with pytest.raises(TypeError, match=r"^Adam: params .* got MLP \(give it model.parameters\(\)\)"):
        Adam(MLP(2, [1]))  # type: ignore[arg-type]


@pytest.mark.parametrize("params", [Value(1.0), 5, None])
def test_params_that_are_not_an_iterable_of_values_name_the_optimizer(params: Any) -> None:
    with pytest.raises(TypeError, match="SGD: params must be an iterable of Values"):
        SGD(params, lr=0.1)


# --- gradients of every size, and the special numbers, against torch.optim -----------------------
# The gradients are written straight into .grad (ours and torch's), so they can be ±inf, NaN,
# ±0.0, huge and tiny: the optimizers' arithmetic over the float range, step by step.

SPECIAL_GRADIENTS = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e300, -1e300, 1e-300, 5e-324, 1e154]


@st.composite
def gradient_runs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 4))
    gradient = st.one_of(st.none(), reals(-10.0, 10.0), st.sampled_from(SPECIAL_GRADIENTS))
    return {
        "start": draw(
            st.lists(st.one_of(reals(-3.0, 3.0), st.sampled_from([0.0, 1e300])), min_size=n, max_size=n)
        ),
        "gradients": draw(
            st.lists(st.lists(gradient, min_size=n, max_size=n), min_size=steps, max_size=steps)
        ),
        "options": draw(options()),
        "flat": draw(st.booleans()),
    }


def check_gradients_against_torch(torch: Any, run: dict[str, Any]) -> None:
    """Step by step against torch.optim. torch adds ``-lr * grad`` with one rounding (a fused
    multiply-add), Python floats with two: where the update cancels the parameter, the two
    differ by the rounding of the update (SGD, lr 0.875, p 0 then grads 1e300 and -1e300: ours
    0.0, torch 7.4e283). So beside ``same``, a difference within a few roundings of the
    largest finite magnitude the parameter has had on either side is agreement."""
    kind, opts = run["options"]
    ours = [Value(x) for x in run["start"]]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in run["start"]]
    opt = KINDS[kind](FlatParameter(ours) if run["flat"] else ours, **opts)
    reference = getattr(torch.optim, kind)(theirs, **opts, foreach=False)
    scale = [abs(x) if math.isfinite(x) else 0.0 for x in run["start"]]
    for step, gradients in enumerate(run["gradients"]):
        for p, q, g in zip(ours, theirs, gradients, strict=True):
            p.grad = g
            q.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
        opt.step()
        reference.step()
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            a, b = p.data, q.item()
            scale[i] = max([scale[i]] + [abs(x) for x in (a, b) if math.isfinite(x)])
            assert same(a, b) or abs(a - b) <= 16 * 2.0**-52 * scale[i], (
                f"{kind} {opts}, step {step}, parameter {i}: {a!r} vs torch {b!r}"
            )


@settings(max_examples=15)
@given(gradient_runs())
def test_optimizers_agree_with_torch_optim_on_special_gradients(torch: Any, run: dict[str, Any]) -> None:
    check_gradients_against_torch(torch, run)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=3000)
@given(gradient_runs())
def test_optimizers_agree_with_torch_optim_on_special_gradients_thoroughly(
    torch: Any, run: dict[str, Any]
) -> None:
    check_gradients_against_torch(torch, run)
