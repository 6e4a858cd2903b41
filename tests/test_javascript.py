"""The JavaScript printer of the compiler's tree: every op of the table it can print computes, in
Chromium, the forward and partials the table's Python functions compute."""

from __future__ import annotations

import math
from typing import Any

import pytest

from microgrsucc import ops
from microgrsucc.javascript import NotPrintable, op_object
from tests.test_page import browser  # noqa: F401  -- the Chromium fixture


def _printable() -> list[tuple[ops.Primitive, str]]:
    found = []
    for op in ops.PRIMITIVES.values():
        try:
            found.append((op, op_object(op)))
        except NotPrintable:
            continue  # erf and a few more: the page falls back for a graph using them
    return found


PRINTABLE = _printable()


def points(op: ops.Primitive) -> list[tuple[float, ...]]:
    """A few arguments inside the op's domain: fractions of the way through its first interval."""
    out = []
    for t in (0.13, 0.5, 0.87):
        out.append(tuple(lo + (hi - lo) * t for lo, hi in (part[0] for part in op.domain)))
    return out


def test_every_op_but_a_few_is_printable() -> None:
    names = {op.name for op, _ in PRINTABLE}
    assert {"+", "*", "/", "**", "exp", "log", "tanh", "sigmoid", "relu"} <= names
    with pytest.raises(NotPrintable, match="erf"):
        op_object(ops.PRIMITIVES["erf"])  # Math has no erf: the page falls back


@pytest.mark.browser
def test_the_printed_ops_compute_what_the_table_computes(browser: Any) -> None:  # noqa: F811
    page = browser.new_page()
    page.goto("about:blank")
    script = (
        "function fail(op) { throw new Error(op); }\nwindow.OPS = ["
        + ",\n".join(js for _, js in PRINTABLE)
        + "];"
    )
    page.add_script_tag(content=script)
    for k, (op, _) in enumerate(PRINTABLE):
        for args in points(op):
            out = op.forward(*args)
            d = op.derivative if op.constant else op.derivative(ops.FLOAT, *args, out)
            partials = (d,) if op.arity == 1 and not isinstance(d, tuple) else tuple(d)
            got = page.evaluate(
                "([k, args]) => { const o = OPS[k], y = o.f(...args); return [y, o.d(...args, y)]; }",
                [k, list(args)],
            )
            assert got[0] == pytest.approx(out, rel=1e-12, abs=1e-300), (op.name, args)
            for g, want in zip(got[1], partials, strict=True):
                if math.isnan(want):
                    assert g is None or math.isnan(g)
                else:
                    assert g == pytest.approx(want, rel=1e-12, abs=1e-300), (op.name, args)
