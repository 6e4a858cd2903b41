"""Grad-mode switches used the ways torch code uses them, against torch's answers.

Found: one set_grad_enabled(False) object used for a second with block, or for a with block
in another thread, raised IndexError (and in the thread, recorded inside the block);
detect_anomaly(False) and no_grad(1) returned a function, so the with block failed later with
an unrelated AttributeError; set_grad_enabled("False") switched recording on (torch refuses
anything but a bool). Prints PASS, or FAIL lines."""

import sys
import threading
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg

fails = 0


def expect(name: str, ours: object, theirs: object) -> None:
    global fails
    if ours != theirs:
        fails += 1
        print("FAIL", name, "ours", ours, "torch", theirs)


def run(lib: object, fn) -> object:
    try:
        return fn(lib)
    except Exception as err:
        return type(err).__name__


def reuse(lib) -> tuple[bool, ...]:
    switch = lib.set_grad_enabled(False)
    seen = []
    with switch:
        seen.append(lib.is_grad_enabled())
    seen.append(lib.is_grad_enabled())
    with switch:
        seen.append(lib.is_grad_enabled())
    seen.append(lib.is_grad_enabled())
    return tuple(seen)


def other_thread(lib) -> tuple[object, ...]:
    switch = lib.set_grad_enabled(False)
    lib.set_grad_enabled(True)
    seen: list[object] = []

    def body() -> None:
        try:
            with switch:
                seen.append(lib.is_grad_enabled())
            seen.append(lib.is_grad_enabled())
        except Exception as err:
            seen.append(type(err).__name__)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    return (*seen, lib.is_grad_enabled())


expect("set_grad_enabled used twice", run(mg, reuse), run(torch, reuse))
expect("set_grad_enabled in another thread", run(mg, other_thread), run(torch, other_thread))
for make in (lambda: mg.detect_anomaly(False), lambda: mg.no_grad(1), lambda: mg.enable_grad("x")):
    try:
        with make():
            pass
        outcome = "no error"
    except TypeError as err:
        outcome = "TypeError" if "takes no argument" in str(err) else f"TypeError: {err}"
    except Exception as err:
        outcome = f"{type(err).__name__}: {err}"
    expect("a switch given a non-function", outcome, "TypeError")
for mode in ("False", None, 0):  # torch refuses each; bool("False") switched recording on here
    expect(
        f"set_grad_enabled({mode!r})", run(mg, lambda lib, m=mode: lib.set_grad_enabled(m) and 0), "TypeError"
    )
    mg.set_grad_enabled(True)
    expect(
        f"torch set_grad_enabled({mode!r})",
        run(torch, lambda lib, m=mode: lib.set_grad_enabled(m) and 0),
        "TypeError",
    )
print("PASS" if not fails else f"FAIL ({fails})")
