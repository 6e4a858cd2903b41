"""The numba backend: the layer plan as one loop over the samples, compiled by numba.

The kernel is the plan of the numpy backend (``layers.py``) written as loops: for each
sample, each layer is one call of a small compiled function (``_layer``: a loop over its
inputs and its units, ``Z[j] += WT[i, j] * a``, which the compiler vectorises), a unary op of
a layer a loop over its units, and every other node one statement printed from its tree by
``NumbaPrinter``; then the same sample's backward pass (``_layer_grads``), with the gradients
of each layer's weights summed in an array of the layer's shape. A unit whose gradient is 0
(relu off) is skipped where that changes no sum. The code grows with the number of layers
and other nodes, never with the number of parameters: numba compiles straight-line code per
parameter in minutes.

The kernel gathers each layer's weights and biases from the parameter array ``PV`` before
the loop over samples and adds their gradients to one array ``G`` after it. What does not
vary per sample (a penalty over the parameters) is computed on the host (``invariant.py``):
a sum of squares as one dot product, the few other scalars as Python floats; so the host
does no work per parameter. ``P`` may be a list of floats or a 1-d float64 array; it is
never written.

The kernel is compiled with ``@njit(cache=True)``: numba caches machine code next to the
source file, so the source is written to a file named by its hash, under
``numba_cache.cache_dir()`` (``$MICROGRSUCC_CACHE_DIR``, else ``$XDG_CACHE_HOME/microgrsucc`` or
``~/.cache/microgrsucc``, in ``numba/``). A second process that compiles the same loss loads
the machine code from there instead of compiling it again. The layers' functions
(``numba_printer.KERNEL_HELPERS``) are one module of their own in the same folder, which
the kernel imports: compiled once per machine, loaded from the cache for every new loss
(each function numba compiles costs its own type inference and LLVM passes).

Errors: a function that would raise in CPython, or a domain check of the table, sets a
flag; the samples flagged are run by the eager engine afterwards (which raises its own
error, or agrees). A division by zero raises in the kernel (numba's ``error_model="python"``)
and the whole batch is handed over, as in the python backend.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from microgrsucc.compiler.invariant import Invariant, replaying
from microgrsucc.compiler.layers import Block, find_blocks, name_blocks
from microgrsucc.compiler.numba_cache import load
from microgrsucc.compiler.numba_printer import (
    KERNEL_HELPER_NAMES,
    KERNEL_HELPERS,
    NUMBA,
    UNSUPPORTED,
    helpers,
)
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.python_code import PYTHON, Contribution, emit_backward, emit_forward
from microgrsucc.compiler.trace import CONST, INPUT, PARAM, Trace
from microgrsucc.compiler.tree import Call, Select, walk

__all__ = ["generate"]


# numba's compiler (its SSA pass) walks back through every earlier block of a function, by
# recursion: a chain of 10 one-unit layers compiles in seconds, 50 exceed Python's recursion
# limit, longer ones take gigabytes. A layer counts 4 of these pieces, a map 2, a branch 1.
_BRANCHES = 160


def _refuse(message: str) -> TypeError:
    return TypeError(f'compile(backend="numba"): {message}; use backend="numpy" or "python"')


class _Emitter:
    def __init__(self, trace: Trace) -> None:
        self.t = trace
        self.plan = Plan(trace, NUMBA, backward=True)
        self.scalar = self.plan.with_printer(PYTHON)  # the same analysis: not redone
        self.blocks, self.absorbed = find_blocks(self.plan)
        self.block_of = name_blocks(self.blocks)
        self.layers = [b for b in self.blocks if b.kind == "layer"]
        # The invariant nodes the kernel reads (operands of its ops), in the order of H.
        self.held: list[int] = []
        for i in self.plan.order(True):
            for j in [] if i in self.absorbed else trace.args[i]:
                invariant = trace.kinds[j] not in (CONST, PARAM, INPUT) and not self.plan.varying[j]
                if invariant and j not in self.held:
                    self.held.append(j)
        self.key_grads: set[str] = set()  # the layers whose scratch input gradient is used
        self.received: set[str] = set()  # the blocks some gradient reaches
        self.calls: dict[str, int] = {}
        branches = 0  # per sample, outside the loops over a layer
        for i, info in enumerate(self.plan.info):
            if info is None or not self.plan.varying[i] or i in self.absorbed:
                continue
            op = trace.ops[i]
            assert op is not None
            if info.forward is None or any(p is None for p in info.partials):
                raise _refuse(
                    f"the op {op.name!r} has no code numba can compile (its forward or derivative "
                    "calls a function that is not Python with math)"
                )
            for tree in [info.forward, *info.partials]:
                assert tree is not None
                for call in walk(tree):
                    if isinstance(call, Call):
                        if call.fn in UNSUPPORTED:
                            raise _refuse(f"numba has no math.{call.fn}, which the op {op.name!r} calls")
                        self.calls[call.fn] = len(call.args)
                    if isinstance(call, Select) and self.block_of.get(i, (None, 0))[1] == 0:
                        branches += 1
        pieces = branches + sum(4 if b.kind == "layer" else 2 for b in self.blocks if b.kind != INPUT)
        if pieces > _BRANCHES:
            raise _refuse(
                f"the loss has {len(self.blocks)} blocks (layers, maps) and {branches} branches "
                "per sample outside them, a kernel too long for numba's compiler (it takes "
                "minutes or fails past a few dozen chained layers)"
            )

    def leaf(self, i: int) -> str | None:
        t = self.t
        kind = t.kinds[i]
        if kind == CONST:
            return NUMBA.literal(t.payload[i])
        if kind == PARAM:
            return f"PV[{int(t.payload[i])}]"
        if kind == INPUT:
            return f"X[s, {int(t.payload[i])}]"
        if i in self.held:
            return f"H[{self.held.index(i)}]"
        return None

    def operand(self, b: Block) -> tuple[str, list[str]]:
        """A layer's inputs for one sample as a 1-d array: a whole block, or a scratch array
        filled from the nodes."""
        key = b.key
        first = self.block_of.get(key[0])
        if first is not None and first[1] == 0:
            src = first[0]
            if len(key) == len(src.members) and all(
                self.block_of.get(m) == (src, c) for c, m in enumerate(key)
            ):
                return ("X[s]" if src.kind == INPUT else src.name), []
        return f"K{b.name}", [f"K{b.name}[{c}] = {self.expr[m]}" for c, m in enumerate(key)]

    def size(self, b: Block) -> str:
        """A block's width as a value the kernel reads at run time (its layer's bias vector's length):
        with a literal, LLVM unrolls the short loops into scalar code instead of vectorising."""
        while b.kind == "map":
            assert b.source is not None
            b = b.source
        return f"b{b.name}.shape[0]"

    def kernel(self) -> tuple[list[str], list[str]]:
        """The kernel's source and the names of its per-layer arguments."""
        t, plan = self.t, self.plan
        n = len(t.kinds)
        self.expr: list[str | None] = [self.leaf(i) for i in range(n)]
        depth = [0] * n
        forward: list[str] = []
        done: set[int] = set()
        arrays: list[str] = []  # per-sample arrays, allocated once per call
        layer_args: list[str] = []  # per layer: its weights' and biases' positions in PV, constant biases
        gathered: list[str] = []  # each layer's weights (and transposed) and biases, from PV
        scattered: list[str] = []  # each layer's gradients, added to G
        for i in plan.order(True):
            if i in self.absorbed or i in done:
                continue
            found = self.block_of.get(i)
            if found is None:
                emit_forward(plan, [i], self.expr, depth, forward)
                continue
            b = found[0]
            done.update(b.members)
            m = self.size(b)
            arrays += [f"{b.name} = _zeros({m})", f"d{b.name} = _zeros({m})"]
            for col, z in enumerate(b.members):
                self.expr[z] = f"{b.name}[{col}]"
            if b.kind == "layer":
                a, fill = self.operand(b)
                if fill:
                    arrays += [f"K{b.name} = _zeros({len(b.key)})", f"dK{b.name} = _zeros({len(b.key)})"]
                positions = [f"IW{b.name}", f"bc{b.name}", f"br{b.name}", f"bp{b.name}"]
                layer_args += positions
                arrays_of_layer = f"W{b.name}, WT{b.name}, FW{b.name}, b{b.name}, GW{b.name}, gb{b.name}"
                gathered.append(f"{arrays_of_layer} = _gather(PV, {', '.join(positions)})")
                scattered.append(f"_scatter(G, IW{b.name}, GW{b.name}, br{b.name}, bp{b.name}, gb{b.name})")
                forward += [*fill, f"_layer({b.name}, b{b.name}, WT{b.name}, {a})"]
            else:
                assert b.source is not None
                info = plan.info[b.members[0]]
                assert info is not None and info.forward is not None
                j = f"j{b.name}"
                e = NUMBA.expr(info.forward, info.env([f"{b.source.name}[{j}]"]))
                forward += [f"for {j} in range({m}):", f"    {b.name}[{j}] = {e}"]
        root = t.root
        if plan.varying[root]:
            forward.append(f"total += {self.expr[root]}")
        backward = self.backward()
        zero = [f"d{b.name}[:] = 0.0" for b in self.blocks if b.kind != INPUT and b.name in self.received]
        zero += [f"dK{b.name}[:] = 0.0" for b in self.layers if b.name in self.key_grads]
        args = ", ".join(["X", "count", "PV", "H", "bad", *layer_args])
        lines = [
            "@njit(cache=True, error_model='python')",
            f"def kernel({args}):",
            "    total = 0.0",
            "    G = _zeros(PV.shape[0])",
            "    GH = _zeros(H.shape[0])",
            "    flagged = 0",
            "    F = _zeros(1)",
            *(f"    {s}" for s in gathered + arrays),
            "    for s in range(count):",
            *(f"        {s}" for s in forward + zero + backward),
            "        if F[0] != 0.0:",
            "            bad[s] = True",
            "            flagged += 1",
            "            F[0] = 0.0",
            *(f"    {s}" for s in scattered),
            "    return total, G, GH, flagged",
        ]
        return lines, layer_args

    def backward(self) -> list[str]:
        t, plan = self.t, self.plan
        out: list[str] = []
        contrib: dict[int, list[Contribution]] = {}
        if plan.varying[t.root]:
            contrib[t.root] = [("1.0", 0)]

        def sink(j: int, c: str) -> str | None:
            if t.kinds[j] == PARAM:
                return f"G[{int(t.payload[j])}] += {c}"
            if not plan.varying[j]:
                return f"GH[{self.held.index(j)}] += {c}"
            found = self.block_of.get(j)
            if found is not None:
                self.received.add(found[0].name)
                return f"d{found[0].name}[{found[1]}] += {c}"
            return None

        for i in reversed(plan.order(True)):
            if i in self.absorbed:
                continue
            found = self.block_of.get(i)
            if found is None:
                emit_backward(plan, [i], self.expr, contrib, sink, out)
                continue
            b = found[0]
            if i != b.first or b.name not in self.received:
                continue
            m = self.size(b)
            d = f"d{b.name}"
            if b.kind == "map":
                assert b.source is not None
                if not plan.grad[b.source.members[0]] or b.source.kind == INPUT:
                    continue
                info = plan.info[i]
                assert info is not None and info.scaled[0] is not None
                j = f"k{b.name}"
                e = NUMBA.expr(
                    info.scaled[0], info.env([f"{b.source.name}[{j}]"], f"{b.name}[{j}]", f"{d}[{j}]")
                )
                self.received.add(b.source.name)
                out += [f"for {j} in range({m}):", f"    d{b.source.name}[{j}] += {e}"]
                continue
            a, fill = self.operand(b)
            to_key = any(plan.grad[k] for k in b.key)
            whole = not fill
            target = f"d{a}" if whole else f"dK{b.name}"
            layer = f"{d}, {a}, W{b.name}, FW{b.name}, GW{b.name}, gb{b.name}"
            out.append(f"_layer_grads({layer}, {target})" if to_key else f"_weight_grads({layer})")
            if to_key:
                if whole:
                    self.received.add(a)
                else:
                    self.key_grads.add(b.name)
                    for col, k in enumerate(b.key):
                        if not plan.grad[k]:
                            continue
                        statement = sink(k, f"dK{b.name}[{col}]") if k in self.block_of else None
                        if statement is not None:
                            out.append(statement)
                        else:
                            contrib.setdefault(k, []).append((f"dK{b.name}[{col}]", 0))
        return out


def generate(trace: Trace) -> tuple[Callable[..., Any], str]:
    """``run(P, samples, count) -> (total, grads)`` with a numba kernel, and its source.

    ``P`` is the parameters' values, a list of floats or a 1-d float64 array (read, never
    written); ``grads`` is a float64 array.

    Raises:
        TypeError: an op of the loss has no tree numba can compile (a custom op calling a C
            function, or a math function numba lacks).
    """
    e = _Emitter(trace)
    has_kernel = bool(e.plan.order(True))
    kernel, layer_args = e.kernel() if has_kernel else ([], [])
    host = Invariant(e.scalar)
    consts = host.consts
    run = ["def run(P, samples, count):", "    PV = np.asarray(P, dtype=np.float64)"]
    run += [f"    {s}" for s in host.forward()]
    if has_kernel:
        for b in e.layers:
            consts[f"_IW{b.name}"] = np.array(b.weights, dtype=np.intp).reshape(len(b.members), len(b.key))
            pairs = [(col, j) for col, js in enumerate(b.biases) for j in js]
            constant = np.zeros(len(b.members))
            for col, j in pairs:
                if trace.kinds[j] == CONST:
                    constant[col] += trace.payload[j]
            bias_params = [(col, int(trace.payload[j])) for col, j in pairs if trace.kinds[j] == PARAM]
            consts[f"_bc{b.name}"] = constant
            consts[f"_br{b.name}"] = np.array([c for c, _ in bias_params], dtype=np.intp)
            consts[f"_bp{b.name}"] = np.array([p for _, p in bias_params], dtype=np.intp)
        held = ", ".join(host.expr[j] or "" for j in e.held)
        positions = ", ".join(f"_{a}" for a in layer_args)
        run += [
            f"    X = np.ascontiguousarray(samples, dtype=np.float64).reshape(count, {trace.nargs})",
            f"    H = np.array([{held}], dtype=np.float64)",
            "    bad = np.zeros(count, dtype=np.bool_)",  # a bool array the kernel needs not compile
            f"    total, G, GH, flagged = _kernel(X, count, PV, H, bad, {positions})",
            "    gH = GH.tolist()",
        ]
    else:
        run += ["    total = 0.0", f"    G = np.zeros({trace.param_count})"]
    run += [f"    {s}" for s in host.backward(e.held)]
    found = "np.flatnonzero(bad).tolist() if flagged else []" if has_kernel else "[]"
    run.append(f"    return total, G, {found}")

    kit = load(KERNEL_HELPERS, "helpers") if has_kernel else None
    module_source = "\n".join(
        [
            "# Generated by microgrsucc.compile(backend='numba'); numba caches its machine code beside it.",
            "import math",
            "import numpy as np",
            "from numba import njit",
            f"from {kit.__name__} import {', '.join(KERNEL_HELPER_NAMES)}" if kit else "",
            "nan = math.nan",
            "inf = math.inf",
            *helpers(e.calls),
            *kernel,
        ]
    )
    names = host.namespace()
    if has_kernel:
        names["_kernel"] = load(module_source + "\n").kernel
    exec(builtins.compile("\n".join(run) + "\n", "<microgrsucc.compile numba>", "exec"), names)
    step = names["run"]

    checked = replaying(step)

    source = (module_source + "\n" if has_kernel else "") + "\n".join(run) + "\n"
    return checked, source
