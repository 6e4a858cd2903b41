"""The jax backend: the per-sample trace as one ``jax.jit`` program over the whole batch.

The program is the plan of the numpy backend (``layers.py``: a layer's dots one matrix
product, a unary op of a layer one call, other nodes one column each), written as
``jax.numpy`` code: jax.numpy has numpy's API, so each op's trees are printed by
``NumpyPrinter`` and the names that code calls (``np``, ``where``, ``np_exp``...) are bound
to jax's functions. Each op of the table is one ``jax.custom_jvp`` function whose
derivative is its table entry's partial trees, so ``jax.value_and_grad`` gives eager mode's
gradients, branch points (relu at 0, sqrt at 0, NaN) included; the matrix products are
differentiated by jax.

What does not vary per sample (a penalty over the parameters) is computed outside XLA, as
Python floats before the call, and its gradient after it: XLA compiles a sum over every
parameter written as scalar ops in minutes.

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
import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from microgrsucc.compiler.layers import Block, find_blocks
from microgrsucc.compiler.numpy_printer import NUMPY
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.python_code import PYTHON, Contribution, Replay, emit_backward, emit_forward
from microgrsucc.compiler.python_code import namespace as python_namespace
from microgrsucc.compiler.trace import CONST, INPUT, PARAM, Trace
from microgrsucc.compiler.tree import Binary, Call, Node, Raise, arguments, walk

__all__ = ["bucket", "generate"]


def bucket(count: int) -> int:
    """The padded batch size for ``count`` samples: at most 8 sizes per doubling (padding
    under 12.5%), so a training loop whose last batch is short compiles twice, not per size."""
    if count <= 8:
        return 8
    step = 1 << max(0, (count - 1).bit_length() - 3)
    return -(-count // step) * step


# --- the functions the printed code calls -------------------------------------------------------

# jax's version of a math function, where its name differs from math's.
_RENAMED = {
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "acosh": "arccosh",
    "atanh": "arctanh", "atan2": "arctan2", "pow": "power", "fabs": "abs",
}  # fmt: skip
# math functions jax.numpy has none of, or one that computes something else.
_SPECIAL = {"erf": "erf", "erfc": "erfc", "lgamma": "gammaln", "gamma": "gamma"}
_DIFFERENT = {"remainder"}  # jnp.remainder is Python's %, math.remainder IEEE's


def _host(f: Callable[..., float]) -> Callable[..., Any]:
    """math's ``f`` per element, called back from the program (a function jax has none of);
    NaN where it raises, which the checks then note."""

    def one(*x: float) -> float:
        try:
            return float(f(*x))
        except (ArithmeticError, ValueError):
            return math.nan

    ufunc = np.vectorize(one, otypes=[np.float64])

    def call(*args: Any) -> Any:
        args = tuple(jnp.asarray(a, dtype=jnp.float64) for a in args)
        shape = jnp.broadcast_shapes(*(a.shape for a in args))
        result = jax.ShapeDtypeStruct(shape, jnp.float64)  # type: ignore[no-untyped-call]
        return jax.pure_callback(lambda *a: ufunc(*a), result, *args, vmap_method="broadcast_all")

    return call


def jax_function(name: str) -> Callable[..., Any]:
    """jax's version of math's function ``name`` (``asin`` is ``arcsin``, ``erf`` is
    ``jax.scipy.special.erf``), or math's own called back per element."""
    if name == "is_integer":
        return lambda x: jnp.isfinite(x) & (jnp.floor(x) == x)
    if name in _SPECIAL:
        return getattr(jax.scipy.special, _SPECIAL[name])  # type: ignore[no-any-return]
    found = getattr(jnp, _RENAMED.get(name, name), None)
    if found is None or name in _DIFFERENT:
        return _host(getattr(math, name))
    return found  # type: ignore[no-any-return]


def _heaviside(x: Any, at_zero: float) -> Any:
    # jnp.heaviside gives at_zero for NaN; the table's slopes (numpy's heaviside) give NaN.
    return jnp.where(x > 0.0, 1.0, jnp.where(x < 0.0, 0.0, jnp.where(x == 0.0, at_zero, x)))


# The masks of the samples that would raise in eager mode, noted while the program is traced
# (one list per thread; None outside the kernel's own statements).
_NOTED = threading.local()


def _note(bad: Any) -> None:
    found = getattr(_NOTED, "found", None)
    if found is not None:
        found.append(bad)


class _Checked:
    """jax's ``f``, noting where math's would raise: a NaN from numbers (ValueError) or an
    infinity from finite numbers (OverflowError); ``on`` only where a branch's mask holds.
    The numpy backend's ``Checked``, with the mask returned by the program instead of noted
    while it runs."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f = f

    def __call__(self, *args: Any) -> Any:
        r = self.f(*args)
        _note(_failed(r, args))
        return r

    def on(self, where: Callable[[], Any], *args: Any) -> Any:
        r = self.f(*args)
        _note(_failed(r, args) & where())
        return r


class _Unchecked(_Checked):
    """jax's ``f`` where the printed code calls a checked function, noting nothing (in the ops'
    own functions, whose checks the kernel's check statements make)."""

    def __call__(self, *args: Any) -> Any:
        return self.f(*args)

    def on(self, where: Callable[[], Any], *args: Any) -> Any:
        return self.f(*args)


def _failed(r: Any, args: tuple[Any, ...]) -> Any:
    nan_in = functools.reduce(jnp.logical_or, [jnp.isnan(a) for a in args])
    finite_in = functools.reduce(jnp.logical_and, [jnp.isfinite(a) for a in args])
    return (jnp.isnan(r) & ~nan_in) | (jnp.isinf(r) & finite_in)


def _guard(failed: Any, value: Any) -> Any:
    _note(failed)
    return value


def _names(plan: Plan, checking: bool) -> dict[str, Any]:
    """The names the printed trees read, bound to jax's functions: with ``checking``, the
    functions that can raise in eager mode note where (for the kernel's check statements)."""
    names: dict[str, Any] = {"np": jnp, "where": jnp.where, "heaviside": _heaviside, "inf": math.inf}
    names.update(nan=math.nan, jax=jax, jnp=jnp, SymbolicZero=SymbolicZero, _tangent=_tangent)
    wrap = _Checked if checking else _Unchecked
    names["_pow"] = wrap(jnp.power)
    names["_guard"] = _guard if checking else (lambda failed, value: value)
    for info in plan.info:
        for tree in _trees(info):
            for m in walk(tree):
                if isinstance(m, Call):
                    f = jax_function(m.fn)
                    total = m.fn in ("isfinite", "isnan", "isinf", "is_integer", "copysign", "fabs")
                    names[f"np_{m.fn}"] = f if total else wrap(f)
    return names


def _trees(info: Any) -> list[Node]:
    if info is None:
        return []
    return [t for t in [info.forward, *info.partials] if t is not None]


def _tangent(terms: list[Any], out: Any) -> Any:
    """The sum of an op's tangent terms, shaped as its output (a scalar operand's term is
    broadcast over the batch, so its gradient is summed over the batch)."""
    if not terms:
        return jnp.zeros_like(out)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return jnp.broadcast_to(total, jnp.shape(out))


def _raises(tree: Node) -> bool:
    """Whether printing ``tree`` notes a check: a function call, ``**`` or a domain check."""
    return any(isinstance(m, (Call, Raise)) or (isinstance(m, Binary) and m.op == "**") for m in walk(tree))


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
        self.scalar = Plan(trace, PYTHON, backward=True)
        self.blocks, self.absorbed = find_blocks(self.plan)
        self.block_of: dict[int, tuple[Block, int]] = {}
        for k, b in enumerate(self.blocks):
            b.name = "X" if b.kind == INPUT else f"B{k}"
            for col, m in enumerate(b.members):
                self.block_of[m] = (b, col)
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
        first = self.block_of.get(key[0])
        if first is not None:
            b, s = first
            if all(self.block_of.get(m) == (b, s + i) for i, m in enumerate(key)):
                return b.name if s == 0 and len(key) == len(b.members) else f"{b.name}[:, {s}:{s + len(key)}]"
        return f"jnp.column_stack(({', '.join(self.expr(m) for m in key)},))"

    def expr(self, i: int) -> str:
        return self.names.get(i) or self.leaf(i)

    def checks(self, i: int, operands: list[str], out: str) -> list[str]:
        """Statements that note where node ``i`` (its forward, and its partials that backward
        computes) would raise in eager mode; their values are dropped (XLA computes them once)."""
        info = self.plan.info[i]
        assert info is not None
        found = []
        if info.forward is not None and _raises(info.forward):
            found.append(NUMPY.expr(info.forward, info.env(operands)))
        if self.plan.grad[i] and self.reached[i]:
            for k, j in enumerate(self.t.args[i]):
                partial = info.partials[k]
                if self.plan.grad[j] and partial is not None and _raises(partial):
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
                    sums = [" + ".join(self.leaf(j) for j in js) or "0.0" for js in b.biases]
                    bias = f"jnp.stack([{', '.join(f'jnp.asarray({s}, dtype=float)' for s in sums)}])"
                body.append(f"{b.name} = {self.columns(b.key)} @ PV[_W{b.name}].T + {bias}")
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


def _rows(found: list[Any], count: int) -> Any:
    """The samples (rows) any noted mask flags: a mask of a block flags its rows, a mask of
    numbers that do not vary per sample flags every sample."""
    bad = jnp.zeros(count, dtype=bool)
    for m in found:
        m = jnp.asarray(m)
        if m.ndim == 2:
            m = jnp.any(m, axis=1)
        bad = bad | jnp.broadcast_to(m, (count,))
    return bad


class Kernel:
    """The jitted forward and backward of the varying part, over padded, sharded batches."""

    def __init__(self, kernel: Callable[..., Any]) -> None:
        self.step = jax.jit(jax.value_and_grad(kernel, argnums=(0, 1), has_aux=True))
        self.devices = jax.devices()
        self.sharded: tuple[Any, Any] | None = None
        if len(self.devices) > 1:  # the samples split across the devices, the rest replicated
            mesh = jax.sharding.Mesh(np.array(self.devices), ("batch",))
            rows = jax.sharding.PartitionSpec("batch")  # type: ignore[no-untyped-call]
            whole = jax.sharding.PartitionSpec()  # type: ignore[no-untyped-call]
            self.sharded = (jax.sharding.NamedSharding(mesh, rows), jax.sharding.NamedSharding(mesh, whole))

    def __call__(self, P: Any, H: list[float], samples: Any, count: int) -> tuple[Any, ...]:
        X = np.asarray(samples, dtype=np.float64).reshape(count, -1)
        size = bucket(count)
        size = -(-size // len(self.devices)) * len(self.devices)  # a whole number of rows per device
        padded = X if size == count else np.concatenate([X, X[np.arange(size - count) % count]])
        total, gP, gH, bad = self.run(P, H, padded, count)
        if size != count and not (
            math.isfinite(total) and np.all(np.isfinite(gP)) and np.all(np.isfinite(gH))
        ):
            # A padded copy of a sample contributes 0 * (its partial): NaN where that is
            # infinite. Without the padding, the numbers are eager mode's.
            total, gP, gH, bad = self.run(P, H, X, count)
        return total, gP, gH, bad

    def run(self, P: Any, H: list[float], X: Any, count: int) -> tuple[Any, ...]:
        with jax.enable_x64(True):
            PV = np.asarray(P, dtype=np.float64)
            HV = np.asarray(H, dtype=np.float64)
            if self.sharded is not None and len(X) % len(self.devices) == 0:
                rows, whole = self.sharded
                X = jax.device_put(X, rows)
                PV, HV = (jax.device_put(a, whole) for a in (PV, HV))
            (total, (any_bad, bad)), (gP, gH) = self.step(PV, HV, X, count)
            total, any_bad, gP, gH = jax.device_get((total, any_bad, gP, gH))  # one transfer
            found = np.flatnonzero(np.asarray(bad)).tolist() if any_bad else []
            return float(total), np.array(gP), gH, found


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

    n = len(trace.kinds)
    expr: list[str | None] = [e.plan.leaf(i, lambda j: f"p{j}", lambda k: "") for i in range(n)]
    before: list[str] = []
    emit_forward(e.scalar, e.scalar.order(False), expr, [0] * n, before)
    root = trace.root
    params = "".join(f"p{j}, " for j in range(trace.param_count))
    run = ["def run(P, samples, count):", *([f"    {params}= P"] if trace.param_count else [])]
    run += [f"    {s}" for s in before]
    if kernel:
        held = ", ".join(expr[j] or "" for j in e.held)
        run.append(f"    total, G, gH, bad = _kernel(P, [{held}], samples, count)")
    else:
        run.append(f"    total, G, gH, bad = 0.0, np.zeros({trace.param_count}), [], []")
    contrib: dict[int, list[Contribution]] = {j: [(f"gH[{k}]", 0)] for k, j in enumerate(e.held)}
    if not e.plan.varying[root]:
        run.append(f"    total = {expr[root]} * count")
        if e.plan.grad[root]:
            contrib.setdefault(root, []).append(("count", 0))
    grads: set[int] = set()

    def sink(j: int, c: str) -> str | None:
        if trace.kinds[j] != PARAM:
            return None
        grads.add(int(trace.payload[j]))
        return f"g{trace.payload[j]} += {c}"

    after: list[str] = []
    emit_backward(e.scalar, e.scalar.order(False), expr, contrib, sink, after)
    if grads:
        index = sorted(grads)
        e.consts["_GI"] = np.array(index, dtype=np.intp)
        run += [f"    g{j} = 0.0" for j in index]
        run += [f"    {s}" for s in after]
        run.append(f"    G[_GI] += np.array([{', '.join(f'g{j}' for j in index)}])")
    run.append("    return total, G.tolist(), bad")

    source = "\n".join([*ops_source, *kernel, *run]) + "\n"
    names = _names(e.plan, checking=False)
    exec(builtins.compile("\n".join(ops_source) + "\n", "<microgrsucc.compile jax ops>", "exec"), names)
    checking = _names(e.plan, checking=True)
    checking.update({k: v for k, v in names.items() if k.startswith("_op")})
    checking.update(e.consts, _NOTED=_NOTED, _rows=_rows)
    if kernel:
        exec(builtins.compile("\n".join(kernel) + "\n", "<microgrsucc.compile jax kernel>", "exec"), checking)
    host = python_namespace()
    host.update(np=np, _GI=e.consts.get("_GI"))
    if kernel:
        host["_kernel"] = Kernel(checking["kernel"])
    exec(builtins.compile("\n".join(run) + "\n", "<microgrsucc.compile jax>", "exec"), host)
    step = host["run"]

    def checked(P: Any, samples: Any, count: int) -> Any:
        total, grads, bad = step(P, samples, count)
        if bad:
            raise Replay(bad, (total, grads))
        return total, grads

    checked.kernel = host.get("_kernel")  # type: ignore[attr-defined]  # for tests and inspection
    return checked, source
