"""The numpy backend: the per-sample trace replayed on arrays holding the whole batch.

Each node that varies per sample is a column of shape (batch,), or a column of a block
(``layers.py``): a layer's dots are one matrix product written into a buffer of the arena
(``numpy_runtime.py``), its bias folded into the product, relu of a whole layer
``np.maximum`` in that buffer with a mask for its slope. What does not vary is computed once,
as Python floats as in the python backend, but for a sum of squares of parameters: one dot
product over their positions. Gradients of the parameters are summed over the batch into
one array.

Each op's code is its tree (``tree.derive``) written by ``NumpyPrinter``: every branch of
a ``Select`` is computed and ``where`` picks per sample. A ``Raise`` becomes a mask of the
samples whose path reaches it (``_guard``), and each math function notes the samples
where ``math``'s would raise (``_Checked``: a NaN from numbers, an infinity from finite
numbers), only on the branch the sample takes. Those samples, and only those, are run by
the eager engine afterwards, which raises its own error; NaN and infinity otherwise flow
through the arrays as through eager mode.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from microgrsucc.compiler.invariant import ScalarGrads, square_grads, square_sums
from microgrsucc.compiler.layers import Block, find_blocks, find_squares
from microgrsucc.compiler.numpy_layers import LayerCode
from microgrsucc.compiler.numpy_printer import NUMPY, Checked, guard, numpy_function, vectorized
from microgrsucc.compiler.numpy_runtime import (
    RELU,
    add_square_grads,
    nan_slopes,
    negative_zeros,
    runner,
    squares,
)
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.python_code import (
    PYTHON,
    Contribution,
    emit_backward,
    emit_forward,
)
from microgrsucc.compiler.python_code import namespace as python_namespace
from microgrsucc.compiler.trace import OP, PARAM, Trace
from microgrsucc.compiler.tree import (
    Call,
    Node,
    Raise,
    Select,
    walk,
)

__all__ = ["NUMPY", "generate"]


def _namespace(plan: Plan) -> dict[str, Any]:
    names = python_namespace()  # the invariant part runs on Python floats
    infos = plan.op_infos.values()
    called = {m.fn for info in infos for m in _trees(info) if isinstance(m, Call)}
    names.update({f"np_{name}": numpy_function(name) for name in called})
    names.update(_guard=guard, _pow=Checked(np.power), np=np, where=np.where, heaviside=np.heaviside)
    names.update(
        _squares=squares,
        _square_grads=add_square_grads,
        _nan_slopes=nan_slopes,
        _negative_zeros=negative_zeros,
    )
    names.update(inf=math.inf, nan=math.nan)
    for info in infos:
        names[f"_fwd{id(info.op)}"], names[f"_der{id(info.op)}"] = vectorized(info.op)
    return names


def _trees(info: Any) -> list[Node]:
    trees = [info.forward, *info.partials]
    return [m for t in trees if t is not None for m in walk(t)]


class _Emitter(LayerCode):
    """The statements of one trace: its layers (``LayerCode``), its sums of squares, and each
    other node one column (varying per sample) or one Python float (computed once)."""

    def __init__(self, trace: Trace, matmul: bool) -> None:
        plan = Plan(trace, NUMPY, backward=True)
        blocks, self.absorbed = find_blocks(plan) if matmul else ([], set())
        super().__init__(trace, plan, blocks)
        self.scalar = plan.with_printer(PYTHON)
        self.allocated: set[str] = set()
        self.squares = find_squares(self.plan) if matmul else []
        self.in_squares = {i for sq in self.squares for i in sq.interior}
        # The nodes computed once per call as Python floats: those outside the sums of squares.
        self.scalar_nodes = [i for i in self.scalar.order(False) if i not in self.in_squares]

    def read_params(self) -> list[int]:
        """The parameters the code reads as Python floats (``p3``): those of the nodes written
        one by one, and the biases a layer sums."""
        t = self.t
        # Absorbed nodes and layers vary per sample; the sums of squares' nodes do not.
        skip = set(self.absorbed)
        skip.update(m for b in self.blocks if b.kind == "layer" for m in b.members)
        written = self.scalar_nodes + [i for i in self.plan.order(True) if i not in skip]
        kinds, args = t.kinds, t.args
        found = {int(t.payload[j]) for i in written for j in args[i] if kinds[j] == PARAM}
        for b in self.blocks:
            if b.kind == "layer" and not self.bias_vector(b):
                found.update(int(t.payload[j]) for js in b.biases for j in js if t.kinds[j] == PARAM)
        return sorted(found)

    def forward(self, out: list[str]) -> None:
        t, plan = self.t, self.plan
        n = len(t.kinds)
        param, arg = (lambda j: f"p{j}"), (lambda k: f"X[:, {k}]")
        self.expr = plan.leaves(param, arg)
        self.depth = [0] * n
        square_sums(self.squares, self.expr, self.consts, out)
        emit_forward(self.scalar, self.scalar_nodes, self.expr, self.depth, out)
        done: set[int] = set()
        for i in plan.order(True):
            if i in self.absorbed or i in done:
                continue
            found = self.block_of.get(i)
            if found is None:
                emit_forward(plan, [i], self.expr, self.depth, out)
                continue
            b = found[0]
            done.update(b.members)
            for col, m in enumerate(b.members):
                self.expr[m] = f"{b.name}[:, {col}]"
            if b.kind == "layer":
                self.layer_forward(b, out)
            elif b.name in self.in_place:  # relu over the layer's own buffer
                assert b.source is not None and RELU is not None
                # Over the whole buffer where it has a column of ones (relu keeps them): one
                # contiguous pass, not one call per row.
                # Against an array of zeros: numpy's loop for a scalar operand is 3x slower.
                wide = self.padded(b)
                whole = f"{b.source.name}_1" if wide else b.source.name
                zeros = f"_zeros{len(b.members) + wide}"
                self.buffer(zeros, None, len(b.members) + wide)
                out.append(f"np.maximum({RELU.format(x=whole, zeros=zeros)}, out={whole})")
                out.append(f"{b.name} = {b.source.name}")
            else:
                assert b.source is not None
                op = t.ops[b.members[0]]
                info = plan.info[b.members[0]]
                assert info is not None
                fwd = info.forward
                e = (
                    f"_fwd{id(op)}({b.source.name})"
                    if fwd is None
                    else NUMPY.expr(fwd, info.env([b.source.name]))
                )
                out.append(f"{b.name} = {e}")

    def add_to(self, name: str, index: str, value: str, out: list[str], block: Block) -> None:
        """``name[index] += value``; on first use ``name = value``, or for a column a buffer of the
        arena zeroed."""
        if name not in self.allocated:
            self.allocated.add(name)
            if index == "":
                out.append(f"{name} = {value}")
                return
            self.buffer(name, None, len(block.members))
            out.append(f"{name}.fill(0.0)")
        out.append(f"{name}{index} += {value}")

    def backward(self, out: list[str], carried: set[int]) -> None:
        t, plan = self.t, self.plan
        contrib: dict[int, list[Contribution]] = {}
        if plan.varying[t.root]:
            contrib[t.root] = [("_ones", 0)]

        # A parameter's contributions are summed per sample first, in the order the eager
        # engine adds them, then over the batch: terms that cancel in a sample cancel here too.
        summed: list[int] = []

        def sink(j: int, c: str) -> str | None:
            if t.kinds[j] == PARAM:
                pj = int(t.payload[j])
                if pj not in summed:
                    summed.append(pj)
                    return f"gc{pj} = {c}"
                return f"gc{pj} = gc{pj} + {c}"
            if t.kinds[j] == OP and not plan.varying[j]:
                carried.add(j)
                return f"h{j} += np.add.reduce({c}, None)"
            found = self.block_of.get(j)
            if found is not None:
                b, col = found
                self.add_to(f"d{b.name}", f"[:, {col}]", c, statements, b)
                return "pass"
            return None

        for i in reversed(plan.order(True)):
            if i in self.absorbed:
                continue
            found = self.block_of.get(i)
            if found is None:
                statements: list[str] = []
                emit_backward(plan, [i], self.expr, contrib, sink, statements)
                out += statements
                continue
            b = found[0]
            if i != b.first or f"d{b.name}" not in self.allocated:
                continue
            d = f"d{b.name}"
            if b.name in self.in_place:  # relu: the slope is its output > 0, a mask
                assert b.source is not None
                if not plan.grad[b.source.members[0]]:
                    continue
                wide = self.padded(b) and self.arena.get(d, (0, 0, False))[2]
                self.buffer(f"K{b.name}", None, len(b.members), ones=wide, dtype="bool")
                value, mask, grad = (
                    (f"{b.source.name}_1", f"K{b.name}_1", f"{d}_1") if wide else (b.name, f"K{b.name}", d)
                )
                out.append(f"np.greater({value}, 0.0, out={mask})")
                out.append(f"np.multiply({grad}, {mask}, out={grad})")
                out.append(f"_nan_slopes({value}, {grad})")
                self.add_to(f"d{b.source.name}", "", d, out, b.source)
            elif b.kind == "map":
                assert b.source is not None
                if not plan.grad[b.source.members[0]]:
                    continue
                info = plan.info[i]
                assert info is not None
                partial = info.partials[0]
                target = f"d{b.source.name}"
                if partial is None:
                    op = t.ops[i]
                    out.append(f"_d{b.name} = _der{id(op)}(None, {b.source.name}, {b.name})")
                    e = f"({d} * _d{b.name})"
                elif isinstance(partial, Select) and not any(isinstance(m, Raise) for m in walk(partial)):
                    # The slope is a new array (where, heaviside): multiply it in place, not into
                    # another new array.
                    fresh = NUMPY.expr(partial, info.env([b.source.name], b.name))
                    if target not in self.allocated:
                        self.allocated.add(target)
                        out += [f"{target} = {fresh}", f"{target} *= {d}"]
                        continue
                    e = f"({d} * {fresh})"
                else:
                    scaled = info.scaled[0]
                    assert scaled is not None
                    e = NUMPY.expr(scaled, info.env([b.source.name], b.name, d))
                self.add_to(target, "", e, out, b.source)
            else:
                self.layer_backward(b, d, out)
                if any(plan.grad[a] for a in b.key):
                    weights = f"W{b.name}[:, :{len(b.key)}]" if b.name in self.folded else f"W{b.name}"
                    # One output: an outer product, not a matmul over an inner dimension of 1.
                    times, call = ("*", "multiply") if len(b.members) == 1 else ("@", "matmul")
                    src = self.whole(b.key)
                    if src is not None:
                        target = f"d{src.name}"
                        if target in self.allocated:
                            out.append(f"{target} += {d} {times} {weights}")
                        else:
                            self.allocated.add(target)
                            wide = self.padded(src)
                            self.buffer(target, None, len(src.members), ones=wide)
                            if wide and b.name in self.folded:  # contiguous: the bias's column
                                # lands in the gradient's spare column, which nothing reads
                                out.append(f"np.{call}({d}, W{b.name}, out={target}_1)")
                            else:
                                out.append(f"np.{call}({d}, {weights}, out={target})")
                    else:
                        out.append(f"_dA{b.name} = {d} {times} {weights}")
                        for col, a in enumerate(b.key):
                            if plan.grad[a]:
                                found_a = self.block_of.get(a)
                                if found_a is not None:
                                    self.add_to(
                                        f"d{found_a[0].name}",
                                        f"[:, {found_a[1]}]",
                                        f"_dA{b.name}[:, {col}]",
                                        out,
                                        found_a[0],
                                    )
                                else:
                                    contrib.setdefault(a, []).append((f"_dA{b.name}[:, {col}]", 0))
        out += [f"G[{pj}] += np.add.reduce(gc{pj}, None)" for pj in summed]
        out[:] = [s for s in out if s != "pass"]
        self.contrib = contrib


def _unpack(params: list[int]) -> str:
    """The statement reading the parameters ``params`` as Python floats (``p3, p7, = P[3], P[7],``)."""
    return f"    {', '.join(f'p{j}' for j in params)}, = {', '.join(f'P[{j}]' for j in params)},"


def generate(trace: Trace, *, matmul: bool = True) -> tuple[Callable[..., Any], str]:
    """``run(P, samples, count) -> (total, grads)`` on numpy arrays (grads one array), and its source.

    The batch runs in chunks of ``numpy_runtime.chunk_size`` samples, each in the buffers of an arena made
    once per chunk size (and thread): in steady state a call maps no fresh memory."""
    e = _Emitter(trace, matmul)
    read = e.read_params()
    forward: list[str] = []
    e.forward(forward)
    root = trace.root
    carried: set[int] = set()
    backward: list[str] = []
    e.backward(backward, carried)
    # np.add.reduce(x, None) is np.sum(x) without its Python wrapper (2-3 µs a call at batch 100).
    total = (
        f"float(np.add.reduce({e.expr[root]}, None))" if e.plan.varying[root] else f"{e.expr[root]} * count"
    )
    contrib: dict[int, list[Contribution]] = {j: [(f"h{j}", 0)] for j in carried}
    if not e.plan.varying[root] and e.plan.grad[root]:
        contrib.setdefault(root, []).append(("count", 0))
    after: list[str] = []

    grads = ScalarGrads(trace)
    emit_backward(e.scalar, e.scalar_nodes, e.expr, contrib, grads.sink, after)
    square_grads(e.squares, contrib, after)
    after = grads.zeros() + after + grads.scatter(e.consts)
    spec = e.arena
    buffers = ["_ones", *sorted(spec), *sorted(f"{name}_1" for name, (_, _, ones, _) in spec.items() if ones)]
    lines = [
        "def run(P, PV, X, count, A, G):",
        *(_unpack(read[k : k + 8]) for k in range(0, len(read), 8)),
        *(_bind(buffers[k : k + 6]) for k in range(0, len(buffers), 6)),
        *(f"    h{j} = 0.0" for j in sorted(carried)),
        *(f"    {s}" for s in forward),
        f"    total = {total}",
        *(f"    {s}" for s in backward),
        *(f"    {s}" for s in after),
        "    return total",
    ]
    source = "\n".join(lines) + "\n"
    names = _namespace(e.plan)
    names.update(e.consts)
    exec(builtins.compile(source, "<microgrsucc.compile numpy>", "exec"), names)  # our own code
    run = names["run"]
    return runner(run, e.arena, trace.param_count, bool(read)), source


def _bind(names: list[str]) -> str:
    """The statement binding the arena's buffers ``names`` to locals."""
    return f"    {', '.join(names)}, = {', '.join(f'A[{n!r}]' for n in names)},"
