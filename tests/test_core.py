"""The modes (no_grad, enable_grad, set_grad_enabled, detect_anomaly) as PyTorch code uses them:
one ``with`` block or one call of a decorated function, in the thread that made it, and each
resume of a decorated generator. torch's own behaviour is checked in tests/test_reference_torch.py.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import microgrsucc as mg
from microgrsucc import Value
from microgrsucc.core import modes_set, state


def test_no_grad_as_a_bare_and_a_called_decorator() -> None:
    @mg.no_grad
    def bare(v: Value) -> Value:
        return v * v

    @mg.no_grad()
    def called(v: Value) -> Value:
        return v * v

    x = Value(3.0)
    assert bare(x).is_leaf and called(x).is_leaf and bare(x).data == 9.0
    assert bare.__name__ == "bare" and called.__name__ == "called"  # functools.wraps
    assert not (x * x).is_leaf and mg.is_grad_enabled()  # the mode ends with the call


def test_enable_grad_inside_no_grad() -> None:
    x = Value(2.0)
    with mg.no_grad():
        with mg.enable_grad():
            assert mg.is_grad_enabled()
            y = x * x
        z = x * x
        assert not mg.is_grad_enabled()

        @mg.enable_grad()
        def recorded(v: Value) -> Value:
            return v * v

        w = recorded(x)
    assert not y.is_leaf and z.is_leaf and not w.is_leaf


def test_set_grad_enabled_as_a_call_and_as_a_context_manager() -> None:
    x = Value(2.0)
    try:
        mg.set_grad_enabled(False)  # as torch: the call itself switches
        assert not mg.is_grad_enabled() and (x * x).is_leaf
        mg.set_grad_enabled(True)
        assert mg.is_grad_enabled() and not (x * x).is_leaf
        with mg.set_grad_enabled(False):
            assert (x * x).is_leaf
            with mg.set_grad_enabled(True):
                assert not (x * x).is_leaf
            assert (x * x).is_leaf
        assert mg.is_grad_enabled()  # the with block restored what it found
        with mg.no_grad(), mg.set_grad_enabled(True):
            assert not (x * x).is_leaf
        # As a decorator (as in torch) the call's switch is undone; the mode holds per call.
        decorated = mg.set_grad_enabled(False)(lambda: (x * x).is_leaf)
        assert mg.is_grad_enabled() and decorated() and mg.is_grad_enabled()
    finally:
        mg.set_grad_enabled(True)
    assert mg.is_grad_enabled()


def test_set_grad_enabled_is_per_thread() -> None:
    seen: list[bool] = []
    with mg.set_grad_enabled(False):
        t = threading.Thread(target=lambda: seen.append(mg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_one_set_grad_enabled_switch_serves_a_second_with_block_and_another_thread() -> None:
    # As torch: each with block of the switch records off inside and restores on exit.
    switch = mg.set_grad_enabled(False)
    seen: list[object] = []
    with switch:
        seen.append(recording())
    seen.append(recording())
    with switch:
        seen.append(recording())
    seen.append(recording())

    def in_a_thread() -> None:
        try:
            with switch:
                seen.append(recording())
            seen.append(recording())
        except Exception as err:  # the thread's error is what the assert shows
            seen.append(err)

    t = threading.Thread(target=in_a_thread)
    t.start()
    t.join()
    assert seen == [False, True, False, True, False, True] and recording()


@pytest.mark.parametrize("mode", ["False", None, 0, 1.0, np.bool_(False)])
def test_set_grad_enabled_takes_a_bool_only_as_torch(mode: object) -> None:
    # torch refuses each of these; bool("False") would have switched recording on
    with pytest.raises(TypeError, match="set_grad_enabled\\(mode\\) expects a bool"):
        mg.set_grad_enabled(mode)  # type: ignore[arg-type]
    assert recording()


@pytest.mark.parametrize(
    "make", [lambda: mg.detect_anomaly(False), lambda: mg.no_grad(1), lambda: mg.enable_grad("on")]
)
def test_a_switch_given_an_argument_that_is_no_function_is_a_type_error(make: Callable[[], Any]) -> None:
    # It would decorate the argument and return a function, and the with block would fail
    # later with an error about context managers.
    with pytest.raises(TypeError, match="takes no argument"):
        make()
    assert recording() and not anomaly_on()


def recording() -> bool:
    x = Value(1.0)
    return not (x * x).is_leaf


def anomaly_on() -> bool:
    return bool(state.anomaly)


def test_no_grad_on_a_generator_function_holds_in_its_body_only() -> None:
    @mg.no_grad
    def body() -> Iterator[bool]:
        yield recording()
        yield recording()

    seen = []
    for inside in body():
        seen.append((inside, recording()))  # the caller's mode between resumes
    assert seen == [(False, True), (False, True)]
    with mg.no_grad():
        resumed = []
        for inside in mg.enable_grad()(body.__wrapped__)():  # type: ignore[attr-defined]
            resumed.append((inside, recording()))
    assert resumed == [(True, False), (True, False)]


def test_a_decorated_generator_passes_send_throw_close_and_its_return_value() -> None:
    @mg.no_grad()
    def echo() -> Any:
        got = yield recording()
        try:
            yield (got, recording())
        except KeyError:
            yield ("thrown", recording())
        return "done"

    gen = echo()
    assert next(gen) is False
    assert gen.send("hello") == ("hello", False)
    assert gen.throw(KeyError("k")) == ("thrown", False)
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done" and recording()
    closed = echo()
    next(closed)
    closed.close()
    assert recording()


def run_interleaved(
    switch: Callable[..., Any], outer: Callable[[], Any], probe: Callable[[], bool]
) -> list[Any]:
    """Thread A calls the decorated function; while it is inside, thread B calls it from
    inside ``outer``; A returns first. Returns what each thread saw after its call."""
    a_inside, b_inside = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    @switch
    def body(name: str) -> None:
        if name == "a":
            a_inside.set()
            assert b_inside.wait(10)
        else:
            b_inside.set()

    def thread_a() -> None:
        body("a")
        seen["a"] = probe()

    def thread_b() -> None:
        assert a_inside.wait(10)
        with outer():
            body("b")
            seen["b"] = probe()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [seen["a"], seen["b"]]


@pytest.mark.parametrize(
    ("switch", "outer", "probe", "expected"),
    [
        (mg.no_grad(), mg.no_grad, recording, [True, False]),
        (mg.enable_grad(), mg.no_grad, recording, [True, False]),
        (mg.detect_anomaly(), mg.detect_anomaly, anomaly_on, [False, True]),
    ],
)
def test_one_decorated_function_in_two_threads_leaves_each_its_own_mode(
    switch: Any, outer: Any, probe: Callable[[], bool], expected: list[bool]
) -> None:
    assert run_interleaved(switch, outer, probe) == expected
    assert recording() and not anomaly_on()


def test_one_switch_in_two_threads_as_a_with_block_restores_each_threads_mode() -> None:
    switch = mg.no_grad()
    entered, leave = threading.Event(), threading.Event()
    seen = []

    def thread_a() -> None:
        with switch:
            entered.set()
            assert leave.wait(10)
        seen.append(recording())

    a = threading.Thread(target=thread_a)
    a.start()
    assert entered.wait(10)
    with mg.no_grad():  # this thread's stack: enters off, so its exit must come back off
        with switch:
            leave.set()
            a.join()
        assert not recording()
    assert seen == [True] and recording()


def test_a_recursive_decorated_function_restores_the_mode_at_each_level() -> None:
    @mg.no_grad
    def down(n: int) -> list[bool]:
        if n == 0:
            return [recording()]
        with mg.enable_grad():
            inner = down(n - 1)
            return [recording(), *inner]

    assert down(3) == [True, True, True, False] and recording()


def test_set_grad_enabled_as_a_decorator_switches_per_call_as_torch() -> None:
    @mg.set_grad_enabled(False)
    def off() -> bool:
        return recording()

    assert recording()  # the decorator's own call was undone
    assert off() is False and recording()
    with mg.no_grad():
        assert mg.set_grad_enabled(True)(recording)() is True and not recording()
    with pytest.raises(TypeError, match="decorates a function"):
        mg.set_grad_enabled(False)(3)  # type: ignore[arg-type]
    mg.set_grad_enabled(True)
    assert recording()


def test_a_thread_that_ends_with_a_mode_set_gives_its_count_back() -> None:
    before = modes_set[0]

    def leave_it_off() -> None:
        mg.set_grad_enabled(False)
        with mg.detect_anomaly():
            assert modes_set[0] == before + 1  # one count per thread, whatever its modes

    for _ in range(3):
        t = threading.Thread(target=leave_it_off)
        t.start()
        t.join()
    gc.collect()
    assert modes_set[0] == before  # so ops in this process stay on the fast path
