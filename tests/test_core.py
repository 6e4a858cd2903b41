"""The modes: no_grad, enable_grad and set_grad_enabled as PyTorch code uses them, per thread."""

from __future__ import annotations

import threading

import pytest

import microgrsucc as mg
from microgrsucc import Value


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
        with pytest.raises(TypeError, match="not a decorator"):
            mg.set_grad_enabled(False)(lambda: None)
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
