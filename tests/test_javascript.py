"""The JavaScript printer of the compiler's tree: every op of the table it can print computes, in
Chromium, the forward and partials the table's Python functions compute."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --- the printed ops against the table over the whole float range ------------------------------

_SPECIAL = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    2.0,
    -3.0,
    0.1,
    math.inf,
    -math.inf,
    math.nan,
    5e-324,
    1e300,
    710.0,
]
_ARGUMENT = st.sampled_from(_SPECIAL) | st.floats(-10.0, 10.0) | st.floats(allow_nan=False)


def _in_python(op: ops.Primitive, args: list[float]) -> list[Any]:
    """``["raise"]``, or ``[value, [partials]]`` as the table computes them on floats."""
    try:
        out = op.forward(*args)
        d = op.derivative if op.constant else op.derivative(ops.FLOAT, *args, out)
    except (ArithmeticError, ValueError):
        return ["raise"]
    return [out, list((d,) if op.arity == 1 and not isinstance(d, tuple) else d)]


def _same(got: Any, want: float) -> bool:
    """Equal to 1e-12 with the same sign of zero (Math's functions may round otherwise), or both NaN."""
    got = math.nan if got is None else float(got)
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    if want == 0.0 or got == 0.0:
        return got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
    return got == want or math.isclose(got, want, rel_tol=1e-12)


def _check_printed_ops(page: Any, cases: list[tuple[int, list[float]]]) -> None:
    results = page.evaluate(
        """(cases) => cases.map(([k, args]) => {
             try { const o = OPS[k], y = o.f(...args); return [y, o.d(...args, y)]; }
             catch (e) { return ["raise"]; }
           })""",
        cases,
    )
    for (k, args), got in zip(cases, results, strict=True):
        op, want = PRINTABLE[k][0], _in_python(PRINTABLE[k][0], args)
        where = f"{op.name}{tuple(args)}: the page gives {got}, Python {want}"
        if want == ["raise"] or got == ["raise"]:
            assert got == want, where
            continue
        assert _same(got[0], want[0]) and all(_same(g, w) for g, w in zip(got[1], want[1], strict=True)), (
            where
        )


@pytest.fixture(scope="module")
def printed_ops(browser: Any) -> Any:  # noqa: F811
    page = browser.new_page()
    page.goto("about:blank")
    page.add_script_tag(
        content="function fail(op) { throw new Error(op); }\nwindow.OPS = ["
        + ",\n".join(js for _, js in PRINTABLE)
        + "];"
    )
    return page


_CASES = st.lists(
    st.integers(0, len(PRINTABLE) - 1).flatmap(
        lambda k: st.tuples(
            st.just(k), st.lists(_ARGUMENT, min_size=PRINTABLE[k][0].arity, max_size=PRINTABLE[k][0].arity)
        )
    ),
    min_size=1,
    max_size=200,
)


@pytest.mark.browser
@settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=_CASES)
def test_the_printed_ops_compute_what_the_table_computes_over_the_whole_float_range(
    printed_ops: Any, cases: list[tuple[int, list[float]]]
) -> None:
    # Where Python raises (a domain error, an overflow), the page must throw, not show a number.
    _check_printed_ops(printed_ops, cases)


@pytest.mark.browser
@pytest.mark.slow
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=_CASES)
def test_the_printed_ops_compute_what_the_table_computes_at_thousands_of_points(
    printed_ops: Any, cases: list[tuple[int, list[float]]]
) -> None:
    _check_printed_ops(printed_ops, cases)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("remainder", [1.0, 0.1]),  # 1 // 0.1 is 9 (1 / 0.1 rounds to 10): d/dy is -9
        ("remainder", [-0.0, 4.9]),  # -0.0 % 4.9 is 0.0, the divisor's sign
        ("remainder", [math.inf, 4.0]),  # inf // 4 is nan, not inf
        ("remainder", [1.0, -math.inf]),  # 1 // -inf is -1, not floor(-0)
        ("**", [1.0, -math.inf]),  # 1 ** anything is 1, where Math.pow(1, ±inf) is NaN
        ("**", [-1.0, math.inf]),
        ("exp", [710.0]),  # OverflowError in Python
        ("sin", [math.inf]),  # ValueError in Python
    ],
)
def test_the_printed_ops_agree_with_python_where_javascript_differs(
    printed_ops: Any, name: str, args: list[float]
) -> None:
    k = next(i for i, (op, _) in enumerate(PRINTABLE) if op.name == name)
    _check_printed_ops(printed_ops, [(k, args)])
