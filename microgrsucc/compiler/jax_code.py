"""The jax backend: the per-sample trace as one ``jax.jit`` program over the whole batch.

The program is the plan of the numpy backend (``layers.py``: a layer's dots one matrix
product, a unary op of a layer one call, other nodes one column each), written as
``jax.numpy`` code: jax.numpy has numpy's API, so each op's trees are printed by
``NumpyPrinter`` and the names that code calls (``np``, ``where``, ``np_exp``...) are bound
to jax's functions. Each op of the table is one ``jax.custom_jvp`` function whose
derivative is its table entry's partial trees, so ``jax.value_and_grad`` gives eager mode's
gradients, branch points (relu at 0, sqrt at 0, NaN) included; the matrix products are
differentiated by jax.

What does not vary per sample (a penalty over the parameters) is computed on the host
(``invariant.py``), before the call, and its gradient after it: a sum of squares as one
numpy dot product over the parameter array, the few other scalars as Python floats (XLA
compiles a sum over every parameter written as scalar ops in minutes). ``P`` may be a list
of floats or a 1-d float64 array; it is never written.

Float64 throughout: the program is traced and run inside ``jax.enable_x64(True)``, a
context, so the user's own jax configuration is left as it is. The batch is padded to a
*bucket* (``bucket``) with copies of its own samples, masked out of the sum, so a new batch
size rarely compiles again. With more than one device (GPUs, TPU cores, or CPU devices from
``XLA_FLAGS=--xla_force_host_platform_device_count=N``) the batch is split across all of
them with ``jax.sharding`` and the parameters are replicated; XLA sums the gradients.

Errors: where eager mode raises (log of a negative), XLA gives NaN. While the program is
traced, each checked function and each domain check of the trees notes which samples would
raise (as the numpy backend's ``Checked`` and ``guard`` do, here as arrays the program
returns); those samples, and only those, are run by the eager engine afterwards.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from microgrsucc.compiler.invariant import Invariant, replaying
from microgrsucc.compiler.jax_runtime import NOTED, Kernel, names, raises, rows
from microgrsucc.compiler.layers import columns, find_blocks, name_blocks, relu_alone
from microgrsucc.compiler.numpy_printer import NUMPY
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.python_code import PYTHON
from microgrsucc.compiler.trace import CONST, INPUT, PARAM, Trace
from microgrsucc.compiler.tree import arguments

__all__ = ["generate"]


# --- the generated code -------------------------------------------------------------------------


class _Unsupported(TypeError):
    pass


def _op_source(op: Any, info: Any) -> list[str]:
    """One op as a jax function with its table entry's derivative (``jax.custom_jvp``)."""
    if info.forward is None or any(p is None for p in info.partials):
        raise _Unsupported(
            f'compile(backend="jax"): the op {op.name!r} has no code jax can run (its '
            "forward or derivative calls a function that is not Python with math); use "
            'backend="numpy" or "python"'
        )
    names = [a.name for a in arguments(op.arity)]
    env = {n: n for n in names}
    f = f"_op{id(op)}"
    lines = [
        "@jax.custom_jvp",
        f"def {f}({', '.join(names)}):",
        f"    return {NUMPY.expr(info.forward, env)}",
        f"def _jvp{id(op)}(primals, tangents):",
        f"    ({', '.join(names)},) = primals",
        f"    ({', '.join('d_' + n for n in names)},) = tangents",
        f"    out = {NUMPY.expr(info.forward, env)}",
        "    terms = []",
    ]
    for n, partial in zip(names, info.partials, strict=True):
        lines.append(f"    if not isinstance(d_{n}, SymbolicZero):")
        lines.append(f"        terms.append(d_{n} * {NUMPY.expr(partial, {**env, 'out': 'out'})})")
    lines += ["    return out, _tangent(terms, out)", f"{f}.defjvp(_jvp{id(op)}, symbolic_zeros=True)"]
    return lines


class _Emitter:
    def __init__(self, trace: Trace) -> None:
        self.t = trace
        self.plan = Plan(trace, NUMPY, backward=True)
        self.scalar = self.plan.with_printer(PYTHON)  # the same analysis: not redone
        self.blocks, self.absorbed = find_blocks(self.plan)
        self.block_of = name_blocks(self.blocks)
        self.consts: dict[str, Any] = {}
        self.held: list[int] = []  # the invariant nodes the kernel reads, in the order of H
        n = len(trace.kinds)
        # The nodes whose backward eager mode runs: those the root depends on.
        self.reached = [False] * n
        self.reached[trace.root] = True
        for i in range(trace.root, -1, -1):
            if self.reached[i]:
                for j in trace.args[i]:
                    self.reached[j] = True

    def leaf(self, i: int) -> str:
        """A node the kernel reads: a constant, a parameter, an argument, an invariant node."""
        t = self.t
        if t.kinds[i] == CONST:
            return NUMPY.literal(t.payload[i])
        if t.kinds[i] == PARAM:
            return f"PV[{int(t.payload[i])}]"
        if t.kinds[i] == INPUT:
            return f"X[:, {int(t.payload[i])}]"
        if i not in self.held:
            self.held.append(i)
        return f"H[{self.held.index(i)}]"

    def columns(self, key: tuple[int, ...]) -> str:
        return columns(self.block_of, key) or f"jnp.column_stack(({', '.join(self.expr(m) for m in key)},))"

    def expr(self, i: int) -> str:
        return self.names.get(i) or self.leaf(i)

    def checks(self, i: int, operands: list[str], out: str) -> list[str]:
        """Statements that note where node ``i`` (its forward, and its partials that backward
        computes) would raise in eager mode; their values are dropped (XLA computes them once)."""
        info = self.plan.info[i]
        assert info is not None
        found = []
        if info.forward is not None and raises(info.forward):
            found.append(NUMPY.expr(info.forward, info.env(operands)))
        if self.plan.grad[i] and self.reached[i]:
            for k, j in enumerate(self.t.args[i]):
                partial = info.partials[k]
                if self.plan.grad[j] and partial is not None and raises(partial):
                    found.append(NUMPY.expr(partial, info.env(operands, out)))
        return found

    def kernel(self) -> list[str]:
        """``kernel(PV, H, X, n) -> (sum of the first n samples' losses, samples that raise)``."""
        t, plan = self.t, self.plan
        self.names: dict[int, str] = {}
        body: list[str] = []
        checks: list[str] = []
        done: set[int] = set()
        for i in plan.order(True):
            if i in self.absorbed or i in done:
                continue
            op = t.ops[i]
            found = self.block_of.get(i)
            if found is None:
                operands = [self.expr(j) for j in t.args[i]]
                body.append(f"_t{i} = _op{id(op)}({', '.join(operands)})")
                self.names[i] = f"_t{i}"
                checks += self.checks(i, operands, f"_t{i}")
                continue
            b = found[0]
            done.update(b.members)
            for col, m in enumerate(b.members):
                self.names[m] = f"{b.name}[:, {col}]"
            if b.kind == "layer":
                self.consts[f"_W{b.name}"] = np.array(b.weights, dtype=np.intp)
                if all(len(js) == 1 and t.kinds[js[0]] == PARAM for js in b.biases):
                    self.consts[f"_b{b.name}"] = np.array(
                        [t.payload[js[0]] for js in b.biases], dtype=np.intp
                    )
                    bias = f"PV[_b{b.name}]"
                else:
                    # -0.0 where a unit has no bias: x + -0.0 is x, also for x = -0.0
                    sums = [" + ".join(self.leaf(j) for j in js) or "-0.0" for js in b.biases]
                    bias = f"jnp.stack([{', '.join(f'jnp.asarray({s}, dtype=float)' for s in sums)}])"
                product = f"{self.columns(b.key)} @ PV[_W{b.name}].T"
                if not relu_alone(plan, self.blocks, b):
                    product = f"_negative_zeros({product}, {self.columns(b.key)}, PV[_W{b.name}])"
                body.append(f"{b.name} = {product} + {bias}")
            else:
                assert b.source is not None
                body.append(f"{b.name} = _op{id(op)}({b.source.name})")
                checks += self.checks(b.members[0], [b.source.name], b.name)
        root = t.root
        if plan.varying[root]:
            total = f"jnp.sum(jnp.where(jnp.arange(X.shape[0]) < n, {self.expr(root)}, 0.0))"
        else:
            total = "jnp.zeros(())"
        return [
            "def kernel(PV, H, X, n):",
            *(f"    {s}" for s in body),
            "    _found = _NOTED.found = []",
            "    try:",
            *(f"        {c}" for c in checks or ["pass"]),
            "    finally:",
            "        _NOTED.found = None",
            "    _bad = _rows(_found, X.shape[0]) & (jnp.arange(X.shape[0]) < n)",
            f"    return {total}, (jnp.any(_bad), _bad)",
        ]


def generate(trace: Trace) -> tuple[Callable[..., Any], str]:
    """``run(P, samples, count) -> (total, grads)`` with jax, and its source.

    Raises:
        TypeError: an op of the loss has no tree jax can run (a custom op calling a C function).
    """
    e = _Emitter(trace)
    kernel = e.kernel() if e.plan.order(True) else []
    ops_source: list[str] = []
    seen: set[int] = set()
    for i in e.plan.order(True):
        op, info = trace.ops[i], e.plan.info[i]
        if i not in e.absorbed and id(op) not in seen:
            seen.add(id(op))
            ops_source += _op_source(op, info)

    host = Invariant(e.scalar)
    run = ["def run(P, samples, count):", "    PV = np.asarray(P, dtype=np.float64)"]
    run += [f"    {s}" for s in host.forward()]
    if kernel:
        held = ", ".join(host.expr[j] or "" for j in e.held)
        run.append(f"    total, G, gH, bad = _kernel(PV, [{held}], samples, count)")
    else:
        run.append(f"    total, G, bad = 0.0, np.zeros({trace.param_count}), []")
    run += [f"    {s}" for s in host.backward(e.held)]
    run.append("    return total, G, bad")

    source = "\n".join([*ops_source, *kernel, *run]) + "\n"
    plain = names(e.plan, checking=False)
    exec(builtins.compile("\n".join(ops_source) + "\n", "<microgrsucc.compile jax ops>", "exec"), plain)
    checking = names(e.plan, checking=True)
    checking.update({k: v for k, v in plain.items() if k.startswith("_op")})
    checking.update(e.consts, _NOTED=NOTED, _rows=rows)
    if kernel:
        exec(builtins.compile("\n".join(kernel) + "\n", "<microgrsucc.compile jax kernel>", "exec"), checking)
    namespace = host.namespace()
    if kernel:
        widest = max((len(b.members) for b in e.blocks), default=1)
        namespace["_kernel"] = Kernel(checking["kernel"], widest)
    exec(builtins.compile("\n".join(run) + "\n", "<microgrsucc.compile jax>", "exec"), namespace)
    step = namespace["run"]

    checked = replaying(step)

    checked.kernel = namespace.get("_kernel")  # type: ignore[attr-defined]  # for tests and inspection
    return checked, source
