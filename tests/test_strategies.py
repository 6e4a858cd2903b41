"""The hypothesis strategies: random graphs are valid, cover the table, take custom ops."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, ops
from microgrsucc.forward import Dual
from microgrsucc.testing.strategies import OP_DOMAINS, Graph, graphs, reals, values


@given(graphs())
def test_a_graph_is_defined_and_finite_at_its_inputs(f: Graph) -> None:
    assert 1 <= len(f.inputs) <= 3 and 1 <= len(f.steps) <= 6
    with mg.detect_anomaly():  # no op sees a NaN or an infinity on the way
        out = f(*[Value(x) for x in f.inputs])
    assert isinstance(out, Value) and math.isfinite(out.data)
    assert f(*f.inputs).data == out.data  # numbers in work too
    assert isinstance(f(*[Dual(x, 1.0) for x in f.inputs]), Dual)
    for op, operands in f.steps:
        assert len(operands) == op.primitive.arity and op.primitive.name in repr(f)
        assert all(0 < scale <= 1 for _, scale, _ in operands)


def test_graphs_draw_every_primitive_in_the_table() -> None:
    seen: set[str] = set()

    # Enough graphs that each of the table's ops is drawn (a coupon collector's ~n log n draws).
    @settings(max_examples=8 * len(ops.PRIMITIVES), database=None, derandomize=True)
    @given(graphs())
    def collect(f: Graph) -> None:
        seen.update(op.primitive.name for op, _ in f.steps)

    collect()
    assert seen == set(ops.PRIMITIVES)


@given(graphs(primitives=[ops.PRIMITIVES["log"]], max_inputs=1, max_ops=4))
def test_graphs_take_a_choice_of_primitives_and_sizes(f: Graph) -> None:
    assert len(f.inputs) == 1 and 1 <= len(f.steps) <= 4
    assert {op.primitive.name for op, _ in f.steps} == {"log"}


@given(st.data())
def test_a_primitive_without_a_domain_draws_from_the_default_one(data: st.DataObject) -> None:
    softplus = mg.custom_op("smooth_relu", lambda x: math.log1p(math.exp(x)), lambda F, x, out: F.sigmoid(x))
    ((lo, hi),) = ops.DEFAULT_DOMAIN
    f = data.draw(graphs(primitives=[softplus], max_ops=1))
    ((op, ((i, scale, offset),)),) = f.steps
    assert op is softplus and lo <= scale * f.inputs[i] + offset <= hi
    chosen = data.draw(
        graphs(primitives=[softplus], domains={"smooth_relu": st.tuples(reals(5, 6))}, max_ops=1)
    )
    ((_, ((i, scale, offset),)),) = chosen.steps
    assert 5 - 1e-9 <= scale * chosen.inputs[i] + offset <= 6 + 1e-9


def test_graphs_need_a_primitive() -> None:
    with pytest.raises(ValueError, match="at least one primitive"):
        graphs(primitives=[])


def test_a_graph_checks_its_argument_count() -> None:
    f = Graph((1.0,), ())
    with pytest.raises(TypeError, match="takes 1 argument"):
        f(1.0, 2.0)


@given(values(-2, 2))
def test_values_are_leaves_in_range(v: Value) -> None:
    assert v.is_leaf and -2 <= v.data <= 2 and v.grad is None


@given(st.data())
def test_each_primitive_draws_arguments_inside_its_domain_where_it_is_finite(data: st.DataObject) -> None:
    op = ops.PRIMITIVES[data.draw(st.sampled_from(sorted(ops.PRIMITIVES)))]
    args = data.draw(OP_DOMAINS[op.name])
    assert len(args) == op.arity and len(op.domain) == op.arity
    for x, intervals in zip(args, op.domain, strict=True):
        assert any(lo <= x <= hi for lo, hi in intervals), (op.name, x, intervals)
    assert math.isfinite(op.forward(*args)), (op.name, args)  # the op is defined there


def test_hypothesis_stays_optional() -> None:
    code = (
        "import sys, microgrsucc, microgrsucc.testing; "
        "assert 'hypothesis' not in sys.modules, 'hypothesis imported'; "
        "import microgrsucc.testing.strategies; assert 'hypothesis' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["fmod", "remainder"])
def test_op_arguments_leave_out_the_jumps_of_fmod_and_remainder(name: str) -> None:
    # Both jump where x is a multiple of y (fmod, x - trunc(x / y) * y, not at 0; torch's
    # remainder, x - floor(x / y) * y, at 0 too) by about |y|; hypothesis likes 0.0, 30.0, -5.0.
    forward = ops.PRIMITIVES[name].forward
    jump = abs(forward(30.0 + 1e-6, -5.0) - forward(30.0 - 1e-6, -5.0))
    assert jump > 4.0  # a jump of almost |y| = 5: no derivative there

    @settings(max_examples=200, database=None)
    @given(OP_DOMAINS[name])
    def drawn(args: tuple[float, float]) -> None:
        x, y = args
        assert abs(forward(x + 1e-6, y) - forward(x - 1e-6, y)) < 1e-3  # no jump at x

    drawn()
