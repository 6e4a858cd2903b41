"""The numba backend: the layer plan as loops over tiles of samples, compiled by numba.

The kernel is the plan of the numpy backend (``layers.py``) written as loops over tiles of
``TILE`` samples (64, fewer for layers wider than 64: ``numba_printer.tile_size``). A
block's values for a tile are a (width, TILE) array, the tile's samples contiguous: each
layer is one call of a compiled function (``_layer``: ``Z[j, r] += WT[i, j] * A[i, r]`` with
the samples ``r`` innermost, which LLVM vectorises), a unary op of a layer one loop over the
block's array, and every other node one statement printed from its tree by ``NumbaPrinter``,
run in a *section*, a loop over the tile's samples between two calls on whole tiles (a
temporary read in a later section is a per-tile array, ``TileRegisters``). Then the tile's
backward pass, with the gradients of each layer's weights summed in an array of the layer's
shape (``_weight_grads``) and its inputs' gradients by ``_product``. Every sum keeps the
order of the loop over samples one at a time. A term whose factor is 0 (relu off) is skipped
where that changes no sum. The code grows with the number of layers and other nodes, never
with the number of parameters: numba compiles straight-line code per parameter in minutes.

The kernel gathers each layer's weights and biases from the parameter array ``PV`` before
the loop over tiles and adds their gradients to one array ``G`` after it; its arrays are
views of a workspace kept per thread (``numba_layout.py``). What does not vary per sample
(a penalty over the parameters) is computed on the host (``invariant.py``): a sum of squares
as one compiled loop (``_squares_host``, which raises no floating-point warnings, so the host
code needs no ``np.errstate``), the few other scalars as Python floats; so the host does no
work per parameter in Python. ``P`` may be a list of floats or a 1-d float64 array; it is
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
flag, checked after each sample of a section that runs such code; the samples flagged are
run by the eager engine afterwards (which raises its own error, or agrees). A division by
zero raises in the kernel (numba's ``error_model="python"``) and the whole batch is handed
over, as in the python backend.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from microgrsucc.compiler.invariant import Invariant, replaying
from microgrsucc.compiler.layers import Block, find_blocks, input_columns, name_blocks
from microgrsucc.compiler.numba_cache import load
from microgrsucc.compiler.numba_layout import LAYER_ENTRY, Layout, workspace
from microgrsucc.compiler.numba_printer import (
    KERNEL_HELPER_NAMES,
    KERNEL_HELPERS,
    NUMBA,
    UNSUPPORTED,
    flags,
    helpers,
    tile_size,
    total,
)
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.python_code import PYTHON, Contribution, emit_backward, emit_forward
from microgrsucc.compiler.registers import TileRegisters
from microgrsucc.compiler.tiles import Tile, check
from microgrsucc.compiler.trace import CONST, INPUT, PARAM, Trace
from microgrsucc.compiler.tree import Call, Node, Select, walk

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
        self.widest = max((max(len(b.key), len(b.members)) for b in self.layers), default=0)
        self.tile_len = tile_size(self.widest)
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
        self.flagging = False  # whether any op's code can set the flag F
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
                self.flagging = self.flagging or flags(tree)
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
                "per sample outside them (relu: one per unit where other ops read its layer), a kernel "
                "too long for numba's compiler (it takes minutes or fails past a few dozen chained layers)"
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

    def operand(self, b: Block) -> str:
        """The array of a layer's inputs for a tile: a whole block, or ``K<layer>``, filled
        from the nodes (the samples' columns too: ``X`` is not stored by tiles)."""
        key = b.key
        first = self.block_of.get(key[0])
        if first is not None and first[1] == 0 and first[0].kind != INPUT:
            src = first[0]
            if len(key) == len(src.members) and all(
                self.block_of.get(m) == (src, c) for c, m in enumerate(key)
            ):
                return src.name
        return f"K{b.name}"

    def size(self, b: Block) -> str:
        """A block's width as a value the kernel reads at run time (its layer's bias vector's length):
        with a literal, LLVM unrolls the short loops into scalar code instead of vectorising."""
        while b.kind == "map":
            assert b.source is not None and len(b.source.members) == len(b.members)  # maps are whole
            b = b.source
        return f"b{b.name}.shape[0]"

    def each(self, b: Block, tree: Node, target: str, op: str, grad: bool = False) -> list[str]:
        """``target op tree`` for each unit of the map ``b`` and each sample of the tile: the
        tree of its forward (of the source's values), or with ``grad`` of its gradient (of the
        source's values, the map's and the map's gradient).

        Code that runs on any float (``total``) is one loop over the whole arrays, as flat
        views: numba's compiler takes longer over nested loops, and the samples past ``n``
        in the last tile (another tile's, or zeros) are not read. Other code runs over the
        tile's samples; with each sample's units inside when it can set the flag F, which is
        checked after each sample."""
        assert b.source is not None
        arrays = [b.source.name, b.name, f"d{b.name}"] if grad else [b.source.name]
        info = self.plan.info[b.members[0]]
        assert info is not None
        flat = total(tree)
        j = f"j{b.name}"
        at = [f"f{a}[q]" if flat else f"{a}[{j}, r]" for a in [target, *arrays]]
        env = info.env([at[1]], at[2], at[3]) if grad else info.env([at[1]])
        statement = f"{at[0]} {op} {NUMBA.expr(tree, env)}"
        if flat:
            return [f"for q in range(f{target}.shape[0]):", f"    {statement}"]
        m = self.size(b)
        if not flags(tree):
            return [f"for {j} in range({m}):", "    for r in range(n):", f"        {statement}"]
        checked = [f"    {c}" for c in check("s0 + r")]
        return ["for r in range(n):", f"    for {j} in range({m}):", f"        {statement}", *checked]

    def kernel(self) -> list[str]:
        """The kernel's source (after it, ``layout.floats`` is the size of its workspace)."""
        recorded = TileRegisters()
        self.tile(recorded)  # where each temporary is computed and read
        names = TileRegisters(recorded.crossing)
        body = self.tile(names)
        zero = [f"_clear(d{b.name})" for b in self.blocks if b.kind != INPUT and b.name in self.received]
        zero += [f"_clear(dK{b.name})" for b in self.layers if b.name in self.key_grads]
        arrays = [*self.arrays]
        for temp in sorted(names.crossing):
            at = self.layout.carve(self.tile_len)
            arrays.append(f"{temp} = WS[{at}:{at + self.tile_len}]")
        if self.widest:
            arrays.append(
                f"AT = _part(WS, {self.layout.carve(self.tile_len * self.widest)}, TILE, {self.widest})"
            )
        lines = [
            "@njit(cache=True, error_model='python', no_cfunc_wrapper=True)",
            "def kernel(X, count, PV, H, bad, IX, FC, WS):",
            "    total = 0.0",
            "    G = _zeros(PV.shape[0])",
            "    GH = _zeros(H.shape[0])",
            "    flagged = 0",
            "    F = _zeros(1)",
            *(f"    {s}" for s in self.gathered + arrays),
            "    for s0 in range(0, count, TILE):",
            "        n = min(TILE, count - s0)",
            *(f"        {s}" for s in zero + body),
            *(f"    {s}" for s in self.scattered),
            "    return total, G, GH, flagged",
        ]
        return lines

    def tile(self, names: TileRegisters) -> list[str]:
        """The body of the loop over tiles (``s0`` the first sample, ``n`` samples): the forward
        pass, then the backward pass."""
        t, plan = self.t, self.plan
        count = len(t.kinds)
        self.expr: list[str | None] = [self.leaf(i) for i in range(count)]
        depth = [0] * count
        tile = Tile(names, self.flagging)
        done: set[int] = set()
        self.arrays: list[str] = []  # per-tile arrays, views of the workspace
        self.layout = Layout()  # the arrays' positions in the workspace
        self.gathered: list[str] = []  # each layer's weights (and transposed) and biases, from PV
        self.scattered: list[str] = []  # each layer's gradients, added to G
        for i in plan.order(True):
            if i in self.absorbed or i in done:
                continue
            found = self.block_of.get(i)
            if found is None:
                emit_forward(plan, [i], self.expr, depth, tile.ops(), names)
                continue
            b = found[0]
            done.update(b.members)
            m = self.size(b)
            for x in (b.name, f"d{b.name}"):
                self.arrays.append(
                    f"{x}, f{x} = _tile(WS, {self.layout.carve(len(b.members) * self.tile_len)}, {m}, TILE)"
                )
            for col, z in enumerate(b.members):
                self.expr[z] = f"{b.name}[{col}, r]"
            if b.kind == "layer":
                a = self.operand(b)
                if a == f"K{b.name}":
                    width = len(b.key)
                    for x in (a, f"d{a}"):
                        self.arrays.append(
                            f"{x} = _part(WS, {self.layout.carve(width * self.tile_len)}, {width}, TILE)"
                        )
                    first = input_columns(self.t, self.block_of, b.key)
                    tile.fill(a, [self.expr[k] for k in b.key], first)
                h = self.layout.layer(b)
                gathered = f"W{b.name}, WT{b.name}, b{b.name}, GW{b.name}, GT{b.name}, gb{b.name}"
                entry = f"IX[{h}:{h + LAYER_ENTRY}]"
                self.gathered.append(f"{gathered} = _gather(PV, IX, FC, WS, {entry})")
                self.scattered.append(f"_scatter(G, IX, {entry}, GW{b.name}, GT{b.name}, gb{b.name})")
                tile.whole(f"_layer({b.name}, b{b.name}, WT{b.name}, {a}, n)")
            else:
                assert b.source is not None
                info = plan.info[b.members[0]]
                assert info is not None and info.forward is not None
                tile.whole(*self.each(b, info.forward, b.name, "="))
        if plan.varying[t.root]:
            tile.sample(f"total += {self.expr[t.root]}", self.expr[t.root] or "")
        self.backward(tile, names)
        tile.close()
        return tile.lines

    def backward(self, tile: Tile, names: TileRegisters) -> None:
        t, plan = self.t, self.plan
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
                return f"d{found[0].name}[{found[1]}, r] += {c}"
            return None

        for i in reversed(plan.order(True)):
            if i in self.absorbed:
                continue
            found = self.block_of.get(i)
            if found is None:
                emit_backward(plan, [i], self.expr, contrib, sink, tile.ops(), names)
                continue
            b = found[0]
            if i != b.first or b.name not in self.received:
                continue
            d = f"d{b.name}"
            if b.kind == "map":
                assert b.source is not None
                if not plan.grad[b.source.members[0]] or b.source.kind == INPUT:
                    continue
                info = plan.info[i]
                assert info is not None and info.scaled[0] is not None
                self.received.add(b.source.name)
                tile.whole(*self.each(b, info.scaled[0], f"d{b.source.name}", "+=", grad=True))
                continue
            a = self.operand(b)
            to_key = any(plan.grad[k] for k in b.key)
            whole = a != f"K{b.name}"
            grads = f"GW{b.name}, GT{b.name}, gb{b.name}, AT"
            calls = [f"_weight_grads({d}, {a}, n, {grads})"]
            if to_key:
                calls.append(f"_product(d{a}, W{b.name}, {d}, n)")
            tile.whole(*calls)
            if to_key:
                if whole:
                    self.received.add(a)
                else:
                    self.key_grads.add(b.name)
                    for col, k in enumerate(b.key):
                        if not plan.grad[k]:
                            continue
                        statement = sink(k, f"d{a}[{col}, r]") if k in self.block_of else None
                        if statement is not None:
                            tile.sample(statement)
                        else:
                            contrib.setdefault(k, []).append((f"d{a}[{col}, r]", 0))


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
    kernel = e.kernel() if has_kernel else []
    kit = load(KERNEL_HELPERS, "helpers")
    host = Invariant(e.scalar, (kit._squares_host, kit._square_grads_host))
    consts = host.consts
    run = ["def run(P, samples, count):", "    PV = np.asarray(P, dtype=np.float64)"]
    run += [f"    {s}" for s in host.forward()]
    if has_kernel:
        consts["_IX"], consts["_FC"] = e.layout.tables(trace)
        consts["_workspace"] = workspace(e.layout.floats)
        held = ", ".join(host.expr[j] or "" for j in e.held)
        run += [
            f"    X = np.ascontiguousarray(samples, dtype=np.float64).reshape(count, {trace.nargs})",
            f"    H = np.array([{held}], dtype=np.float64)",
            "    bad = np.zeros(count, dtype=np.bool_)",  # a bool array the kernel needs not compile
            "    total, G, GH, flagged = _kernel(X, count, PV, H, bad, _IX, _FC, _workspace())",
            "    gH = GH.tolist()",
        ]
    else:
        run += ["    total = 0.0", f"    G = np.zeros({trace.param_count})"]
    run += [f"    {s}" for s in host.backward(e.held)]
    found = "np.flatnonzero(bad).tolist() if flagged else []" if has_kernel else "[]"
    run.append(f"    return total, G, {found}")

    module_source = "\n".join(
        [
            "# Generated by microgrsucc.compile(backend='numba'); numba caches its machine code beside it.",
            "import math",
            "import numpy as np",
            "from numba import njit",
            f"from {kit.__name__} import {', '.join(KERNEL_HELPER_NAMES)}" if has_kernel else "",
            "nan = math.nan",
            "inf = math.inf",
            f"TILE = {e.tile_len}  # samples per tile" if has_kernel else "",
            *helpers(e.calls),
            *kernel,
        ]
    )
    names = host.namespace()
    if has_kernel:
        names["_kernel"] = load(module_source + "\n").kernel
    exec(builtins.compile("\n".join(run) + "\n", "<microgrsucc.compile numba>", "exec"), names)
    step = names["run"]

    checked = replaying(step, quiet=host.quiet)

    source = (module_source + "\n" if has_kernel else "") + "\n".join(run) + "\n"
    return checked, source
