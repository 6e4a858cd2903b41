"""collector_paused: the cyclic collector is off inside, and restored as it was on leaving."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from microgrsucc import Value, collector_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    """Each test starts with the collector on, and leaves it as it found it."""
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_off_inside_and_on_again_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_restored_when_the_block_raises() -> None:
    with pytest.raises(ZeroDivisionError), collector_paused():
        Value(1.0) / 0.0
    assert gc.isenabled()


def test_nested_blocks_restore_on_leaving_the_outermost() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still runs
    assert gc.isenabled()


def test_thresholds_and_frozen_objects_are_left_alone() -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    with collector_paused():
        assert gc.get_threshold() == thresholds
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == frozen


def test_as_a_decorator() -> None:
    @collector_paused()
    def step(w: Value) -> bool:
        (w * w).backward()
        return gc.isenabled()

    w = Value(3.0)
    assert step(w) is False
    assert gc.isenabled()
    assert w.grad == 6.0


def test_overlapping_blocks_on_two_threads() -> None:
    # Thread A enters first and leaves first; the collector stays off until B has left too.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with collector_paused():
            a_in.set()
            b_in.wait()
        a_out.set()

    def second() -> None:
        a_in.wait()
        with collector_paused():
            b_in.set()
            a_out.wait()
            seen["after A left, inside B"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"after A left, inside B": False}
    assert gc.isenabled()


def test_many_threads_entering_and_leaving_leave_it_on() -> None:
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(200):
            with collector_paused():
                x = Value(0.5)
                (x.tanh() * x).backward()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()


def test_gradients_are_the_same_inside() -> None:
    # d/dx of x*sin(x) is sin(x) + x*cos(x): the pause changes no arithmetic.
    import math

    x = Value(0.7)
    with collector_paused():
        (x * x.sin()).backward()
    assert x.grad == pytest.approx(math.sin(0.7) + 0.7 * math.cos(0.7), rel=1e-15)


def test_a_generator_function_runs_its_body_paused_and_its_caller_not() -> None:
    @collector_paused()
    def steps(w: Value) -> Iterator[bool]:
        for _ in range(2):
            (w * w).backward()
            yield gc.isenabled()

    w = Value(3.0)
    seen = []
    for inside in steps(w):
        seen.append((inside, gc.isenabled()))
    assert seen == [(False, True), (False, True)]
    assert w.grad == 12.0
