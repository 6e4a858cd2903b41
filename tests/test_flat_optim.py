"""Optimizers given a FlatParameter (flat_optim.py's array steps) against the same optimizers
stepping the Values one by one, bit for bit."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from microgrsucc import FlatParameter, Value
from microgrsucc.flat_optim import lerp
from microgrsucc.optim import SGD, Adam, AdamW, Optimizer
from microgrsucc.testing.strategies import reals

KINDS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}

# Three copies of the same Values: plain Values stepped one by one (the reference), a
# FlatParameter stepped as arrays, and another FlatParameter's views stepped one by one
# through their properties. Gradients are set by hand, any float (inf, NaN, -0.0,
# subnormals), None for some elements, sometimes a Value (as after create_graph=True), and
# added to a gradient left from the step before when zero_grad() is not called.

ANY_FLOAT = st.one_of(reals(-3.0, 3.0), st.floats(width=64), st.sampled_from([0.0, -0.0, 5e-324, 1e-200]))
NON_NEGATIVE = st.one_of(
    st.just(0.0), reals(0.0, 1.0), st.floats(min_value=0.0), st.sampled_from([-0.0, 5e-324, math.inf])
)
BETA = st.one_of(st.just(0.0), reals(0.0, 0.9999), st.floats(0.0, 1.0, exclude_max=True))


@st.composite
def any_options(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Hyperparameters anywhere in each optimizer's valid range."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    opts: dict[str, Any] = {
        "lr": draw(NON_NEGATIVE),
        "weight_decay": draw(NON_NEGATIVE),
        "maximize": draw(st.booleans()),
    }
    if kind == "SGD":
        opts["momentum"] = draw(NON_NEGATIVE)
        opts["dampening"] = draw(st.one_of(st.just(0.0), reals(0.0, 1.0), st.floats(width=64)))
        opts["nesterov"] = opts["momentum"] > 0.0 and opts["dampening"] == 0.0 and draw(st.booleans())
    else:
        opts["betas"] = (draw(BETA), draw(BETA))
        opts["eps"] = draw(st.one_of(st.sampled_from([1e-8, 0.0]), NON_NEGATIVE))
        opts["amsgrad"] = draw(st.booleans())
    return kind, opts


@st.composite
def flat_problems(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 8))
    gradient = st.one_of(st.none(), ANY_FLOAT, st.tuples(st.just("value"), ANY_FLOAT))
    step = st.fixed_dictionaries(
        {
            "zero_grad": st.sampled_from([None, True, False]),  # no call, set_to_none True/False
            "grads": st.lists(gradient, min_size=n, max_size=n),
        }
    )
    return {
        "start": draw(st.lists(ANY_FLOAT, min_size=n, max_size=n)),
        "steps": draw(st.lists(step, min_size=1, max_size=5)),
        "options": draw(any_options()),
    }


def bits(x: float) -> str:
    """A float as its bits, except NaN's sign and payload (which no rule here promises)."""
    return "nan" if math.isnan(x) else x.hex()


def per_value_state(opt: Optimizer, p: Value, name: str) -> float:
    """``opt.state[p][name]``, or the value it starts from, where ``p`` has no state yet."""
    state = opt.state.get(p)
    return 0.0 if state is None else float(state[name])


def check_flat_against_per_value(problem: dict[str, Any]) -> None:
    kind, opts = problem["options"]
    plain = [Value(x) for x in problem["start"]]
    flat = FlatParameter([Value(x) for x in problem["start"]])
    views = FlatParameter([Value(x) for x in problem["start"]]).params
    reference, arrays, through_views = (KINDS[kind](ps, **opts) for ps in (plain, flat, views))
    assert arrays.params == flat.params
    for step, taken in enumerate(problem["steps"]):
        for params, opt in ((plain, reference), (flat.params, arrays), (views, through_views)):
            if taken["zero_grad"] is not None:
                opt.zero_grad(set_to_none=taken["zero_grad"])
            for p, g in zip(params, taken["grads"], strict=True):
                if g is not None:
                    new = Value(g[1]) if isinstance(g, tuple) else g
                    p.grad = new if p.grad is None else p.grad + new
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # numpy warns where floats do not: it must not
                opt.step()
        expected = [bits(p.data) for p in plain]
        where = f"{kind} step {step}"
        assert [bits(x) for x in flat.data.tolist()] == expected, where
        assert [bits(p.data) for p in views] == expected, where
        # The state: arrays under torch's names, element i the per-Value state of parameter i.
        names = {"SGD": ["momentum_buffer"], "Adam": ["step", "exp_avg", "exp_avg_sq"]}
        names["AdamW"] = names["Adam"]
        if opts.get("amsgrad"):
            names[kind] = [*names[kind], "max_exp_avg_sq"]
        if (kind == "SGD" and opts["momentum"] == 0.0) or not reference.state:
            assert flat not in arrays.state
            continue
        state = arrays.state[flat]
        for name in names[kind]:
            array = state[name]
            assert array.shape == (len(plain),)
            assert [bits(float(x)) for x in array.tolist()] == [
                bits(per_value_state(reference, p, name)) for p in plain
            ], f"{where}: {name}"
        if kind == "SGD":
            assert state["has_momentum_buffer"].tolist() == [p in reference.state for p in plain]


@settings(max_examples=60)
@given(flat_problems())
@example(  # eps=0, v=0 and a NaN step (inf * 0): per Value, p += copysign(inf, step), not NaN
    {
        "start": [1.0, 2.0],
        "steps": [{"zero_grad": None, "grads": [0.0, 1.0]}],
        "options": ("Adam", {"lr": math.inf, "weight_decay": 0.0, "maximize": False, "eps": 0.0}),
    }
)
def test_a_flat_parameter_steps_bit_for_bit_as_its_values_one_by_one(problem: dict[str, Any]) -> None:
    check_flat_against_per_value(problem)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=5000)
@given(flat_problems())
def test_a_flat_parameter_steps_bit_for_bit_as_its_values_one_by_one_thoroughly(
    problem: dict[str, Any],
) -> None:
    check_flat_against_per_value(problem)


@pytest.mark.parametrize("make", [SGD, Adam, AdamW])
def test_an_unflattened_flat_parameter_raises_naming_the_optimizer(make: Any) -> None:
    flat = FlatParameter([Value(1.0), Value(2.0)])
    opt = make(flat, lr=0.1)
    (flat.params[0] * flat.params[1]).backward()
    flat.unflatten()  # the arrays no longer hold the Values' numbers
    with pytest.raises(ValueError, match=rf"^{make.__name__}: its FlatParameter has been unflattened"):
        opt.step()
    opt.zero_grad()  # on the Values, plain again
    assert [p.grad for p in opt.params] == [None, None]
    with pytest.raises(ValueError, match=rf"^{make.__name__}: its FlatParameter has been unflattened"):
        make(flat, lr=0.1)


def test_a_flat_parameter_in_a_list_is_not_a_value() -> None:
    flat = FlatParameter([Value(1.0)])
    with pytest.raises(TypeError, match="optimizer can only optimize Values, got FlatParameter"):
        SGD([flat])  # type: ignore[list-item]


def test_an_empty_flat_parameter_raises_as_an_empty_list() -> None:
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        Adam(FlatParameter([]))


def test_flat_adam_state_is_arrays_under_torchs_names() -> None:
    flat = FlatParameter([Value(1.0), Value(2.0), Value(3.0)])
    opt = Adam(flat, lr=0.1, betas=(0.5, 0.75), amsgrad=True)
    assert opt.params == flat.params
    flat.params[0].grad, flat.params[2].grad = 2.0, -4.0  # the middle one has no gradient
    opt.step()
    state = opt.state[flat]
    assert sorted(state) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert state["step"].dtype.kind == "i"
    assert state["step"].tolist() == [1, 0, 1]
    # After one step m = (1 - b1) g and v = (1 - b2) g², exactly in binary at these betas.
    assert state["exp_avg"].tolist() == [1.0, 0.0, -2.0]
    assert state["exp_avg_sq"].tolist() == [1.0, 0.0, 4.0]
    assert state["max_exp_avg_sq"].tolist() == [1.0, 0.0, 4.0]
    # The first step moves each element with a gradient by lr against its sign; not the middle.
    assert flat.data.tolist() == pytest.approx([0.9, 2.0, 3.1], abs=1e-7)


def test_flat_sgd_state_is_the_momentum_buffer_and_where_it_has_begun() -> None:
    flat = FlatParameter([Value(1.0), Value(2.0)])
    opt = SGD(flat, lr=0.1, momentum=0.5)
    flat.params[1].grad = 3.0
    opt.step()
    state = opt.state[flat]
    assert sorted(state) == ["has_momentum_buffer", "momentum_buffer"]
    assert state["momentum_buffer"].tolist() == [0.0, 3.0]  # b = g at the first gradient
    assert state["has_momentum_buffer"].tolist() == [False, True]
    assert flat.data.tolist() == [1.0, pytest.approx(1.7)]


@pytest.mark.parametrize("set_to_none", [True, False])
def test_flat_zero_grad_clears_the_arrays(set_to_none: bool) -> None:
    flat = FlatParameter([Value(1.0), Value(2.0)])
    opt = SGD(flat, lr=0.1)
    flat.params[0].grad = 5.0
    opt.zero_grad(set_to_none=set_to_none)
    assert flat.grad.tolist() == [0.0, 0.0]
    assert flat.has_grad.tolist() == [not set_to_none, False]  # a None grad stays None
    assert [p.grad for p in flat.params] == [None if set_to_none else 0.0, None]


def test_a_flat_step_with_no_gradient_changes_nothing_and_makes_no_state() -> None:
    flat = FlatParameter([Value(1.0), Value(2.0)])
    opt = AdamW(flat, lr=0.1)
    opt.step()
    assert flat.data.tolist() == [1.0, 2.0]
    assert opt.state == {}


@given(st.lists(st.tuples(ANY_FLOAT, ANY_FLOAT), min_size=1, max_size=6), BETA)
def test_lerp_of_arrays_is_lerp_of_each_element(pairs: list[tuple[float, float]], weight: float) -> None:
    import numpy as np

    starts, ends = (np.array(column) for column in zip(*pairs, strict=True))
    with np.errstate(all="ignore"):
        got = lerp(starts, ends, weight).tolist()
    assert [bits(x) for x in got] == [bits(lerp(a, b, weight)) for a, b in pairs]


def test_an_optimizer_steps_a_shallow_copy_of_a_flat_parameter_as_the_original() -> None:
    # copy.copy shares the views and the arrays: stepping it is stepping the original.
    for shallow in (False, True):
        ps = [Value(1.0), Value(2.0)]
        flat = FlatParameter(ps)
        opt = SGD(copy.copy(flat) if shallow else flat, lr=0.5)
        ps[0].grad, ps[1].grad = 0.2, 0.0
        opt.step()
        assert [p.data for p in ps] == [0.9, 2.0]
        flat.unflatten()
        with pytest.raises(ValueError, match="has been unflattened"):
            opt.step()
