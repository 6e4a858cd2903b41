"""The numba backend's printer of trees, and the small functions the code it prints calls.

``NumbaPrinter`` writes a tree as a Python expression on floats, as the python backend's
printer does (a ``Select`` is a conditional expression: one branch runs), for a function
that numba compiles. numba's ``math`` functions return NaN or an infinity where CPython's
raise, so each call of a function that can raise goes through a helper that notes it in
the flag ``F`` (a NaN from numbers: ValueError; an infinity from finite numbers:
OverflowError, the numpy backend's rule); a ``Raise`` (a domain check) sets the flag too.
The kernel marks the sample and the eager engine runs it afterwards. ``KERNEL_HELPERS`` is
the source of the module of functions every kernel calls for its layers.
"""

from __future__ import annotations

from microgrsucc.compiler.python_code import PythonPrinter
from microgrsucc.compiler.tree import Binary, Call, Node, Raise, walk

__all__ = [
    "KERNEL_HELPERS",
    "KERNEL_HELPER_NAMES",
    "NUMBA",
    "TILE",
    "NumbaPrinter",
    "flags",
    "helpers",
    "tile_size",
    "total",
]

# math functions that never raise for a float (numpy's ``_TOTAL``): called as they are.
_TOTAL = {"tanh", "atan", "erf", "erfc", "copysign", "isfinite", "isnan", "isinf"}
# Functions numba's math lacks, or returns an int from: numpy's, which numba compiles.
_NUMPY = {"fmod": "np.fmod", "trunc": "np.trunc", "floor": "np.floor", "ceil": "np.ceil"}
# math functions numba cannot compile at all.
UNSUPPORTED = {"remainder", "factorial", "comb", "perm", "isqrt", "gcd", "lcm", "frexp", "ldexp"}


class NumbaPrinter(PythonPrinter):
    """Prints a tree as a numba-compiled Python expression on floats; calls that can raise in
    CPython note it in the flag array ``F`` instead."""

    into_branches = True

    def expr(self, n: Node, env: dict[str, str]) -> str:
        if isinstance(n, Call):
            args = ", ".join(self.expr(a, env) for a in n.args)
            if n.fn == "is_integer":
                return f"_is_integer({args})"
            if n.fn in _TOTAL:
                return f"math.{n.fn}({args})"
            return f"_f_{n.fn}({args}, F)"
        if isinstance(n, Binary) and n.op == "**":
            return f"_pow({self.expr(n.a, env)}, {self.expr(n.b, env)}, F)"
        if isinstance(n, Raise):
            return "_fail(F)"
        return super().expr(n, env)


NUMBA = NumbaPrinter()


def flags(tree: Node) -> bool:
    """Whether the code ``NUMBA`` prints for ``tree`` can set the flag ``F``."""
    return any(
        (isinstance(n, Call) and n.fn not in _TOTAL and n.fn != "is_integer")
        or (isinstance(n, Binary) and n.op == "**")
        or isinstance(n, Raise)
        for n in walk(tree)
    )


def total(tree: Node) -> bool:
    """Whether the code ``NUMBA`` prints for ``tree`` runs on any float: it can neither set the
    flag ``F`` nor raise (a division by zero raises ZeroDivisionError in the kernel)."""
    return not flags(tree) and not any(isinstance(n, Binary) and n.op in ("/", "//", "%") for n in walk(tree))


def helpers(calls: dict[str, int]) -> list[str]:
    """The source of the helpers for the checked functions ``calls`` (name -> arity), and of
    ``_pow``, ``_fail`` and ``_is_integer``, each compiled by numba (if the kernel calls it) and cached
    with the kernel. ``F`` is a float64 array of one element, set to 1.0."""
    lines = [
        "@njit(**INNER)",
        "def _fail(F):",
        "    F[0] = 1.0",
        "    return math.nan",
        "@njit(**INNER)",
        "def _is_integer(x):",
        "    return math.isfinite(x) and math.floor(x) == x",
    ]
    for name, arity in sorted({**calls, "pow": 2}.items()):
        if name in _TOTAL:
            continue
        xs = [f"x{k}" for k in range(arity)]
        function = _NUMPY.get(name, f"math.{name}")
        call = "x0 ** x1" if name == "pow" else f"{function}({', '.join(xs)})"
        nan_in = " or ".join(f"math.isnan({x})" for x in xs)
        finite_in = " and ".join(f"math.isfinite({x})" for x in xs)
        lines += [
            "@njit(**INNER)",
            f"def {'_pow' if name == 'pow' else '_f_' + name}({', '.join(xs)}, F):",
            f"    r = {call}",
            f"    if (math.isnan(r) and not ({nan_in})) or (math.isinf(r) and {finite_in}):",
            "        F[0] = 1.0",
            "    return r",
        ]
    return lines


# The functions every kernel calls for its layers. They do not depend on the loss, so they
# live in one module of their own (``numba_cache.load`` writes it once, named by its hash):
# numba compiles each once per machine and every later kernel loads them from its cache,
# where a kernel's own copies would be compiled again for each new loss.
#
# A kernel runs its samples in tiles of ``tile_size(widest)``: a block's values for a tile are a
# (width, tile) array, the tile's samples contiguous, so that every loop over a layer's units has an
# innermost loop over the tile's samples (``n`` of them, fewer in the last tile), which LLVM
# vectorises, where a loop over 16 units per sample spent its time entering and leaving loops
# (1.1x PyTorch at 10,000 samples, W=16; 0.6x in tiles). Every sum keeps the order of a loop
# over the samples one at a time: a unit's value over its inputs in their order, an input's
# gradient over the units in their order, a weight's gradient over the samples in their
# order (the loop over samples outside the loop over weights).
#
# Per layer: its weights (also transposed, for the order of the forward loop) and biases
# (constants plus parameters) gathered from PV before the loop over tiles, with zeroed
# arrays for their gradients; per tile its forward pass (Z = b + W @ A) and backward pass
# (the weights' and biases' gradients, and the input's gradient); its gradients added to G
# after the loop (a weight found twice, twice). A kernel's arrays are views of a workspace
# the host keeps (``_part``, ``_tile``), its few others made by ``_zeros`` (compiled once,
# not one per shape and type in each kernel).
# The matrices stay 2-d and every index is a loop's counter: an index numba cannot prove
# >= 0 (W[k*n + l], A[i, a0 + r]) gets a wraparound check that stops LLVM from vectorising.
TILE = 64  # samples per tile at most: a layer's arrays for a tile stay in the first level of cache
_TILE_FLOATS = 4096  # 32 KB: a layer's array for a tile, the widest layer's units by its samples


def tile_size(widest: int) -> int:
    """Samples per tile for a kernel whose widest layer has ``widest`` units or inputs: ``TILE``,
    halved (16 at least) until a (widest, tile) array of floats fits 32 KB, the first level of
    cache. At W=128 (64 KB per array in tiles of 64) the kernel alone ran 0.54-0.69x as long
    in tiles of 32 at batch 100 and 0.82x at 1,000; W=16 to 64 ran 1-7% slower in tiles of
    32 (interleaved in one process, 2026-11-30; docs/performance.md has the whole step)."""
    tile = TILE
    while tile > 16 and tile * widest > _TILE_FLOATS:
        tile //= 2
    return tile


KERNEL_HELPERS = """import math
import numpy as np
from numba import njit

# Called only from other compiled functions, never from Python (which would crash): numba
# builds no wrappers for Python or C callers, as pytensor does; a first call with an empty
# cache took 0.5 s less (5.0 s against 5.5 s, medians of four alternating runs of
# benchmarks/numba_first_call.py, load 1.6).
INNER = dict(cache=True, error_model="python", no_cpython_wrapper=True, no_cfunc_wrapper=True)

# Typed here, so that a literal size in a kernel (_zeros(2)) does not compile another copy;
# np.empty and a loop, as np.zeros would compile both and more.
@njit("float64[::1](int64)", **INNER)
def _zeros(n):
    a = np.empty(n)
    for i in range(n):
        a[i] = 0.0
    return a

# The kernel's arrays are views of the workspace WS, a float array kept by the host for each
# thread (zeros when made), so that a call allocates almost nothing: with 34 arrays made and
# zeroed by each call (and 17 arguments) a step took 19.4 us, now 17.8 (W=16, batch 100).
# The (m, n) array at WS[at:]: ``at`` is printed in the kernel, ``m`` and ``n`` read at run
# time. Typed, as _tile: numba would compile a copy for each literal position.
@njit("float64[:, ::1](float64[::1], int64, int64, int64)", **INNER)
def _part(WS, at, m, n):
    return WS[at:at + m * n].reshape(m, n)

# A block's array for a tile, (width, tile), and a flat view of it (for one loop over all).
@njit("Tuple((float64[:, ::1], float64[::1]))(float64[::1], int64, int64, int64)", **INNER)
def _tile(WS, at, m, tile):
    a = WS[at:at + m * tile]
    return a.reshape(m, tile), a

# A gradient's array for a tile, zeroed before the tile's backward pass: every column, so
# that the columns past the last tile's n (which the flat loops add to, never read) do not
# grow from call to call in a workspace that is kept.
@njit("void(float64[:, ::1])", **INNER)
def _clear(A):
    for i in range(A.shape[0]):
        for r in range(A.shape[1]):
            A[i, r] = 0.0

# A layer's weights (also transposed, for the order of the forward loop) and biases from PV,
# with zeroed arrays for their gradients. ``entry`` is the layer's entry in IX (numba_layout.py),
# a slice of it: an int printed in the kernel would compile a copy of the function for each.
@njit(**INNER)
def _gather(PV, IX, FC, WS, entry):
    m, n, k, iw = entry[0], entry[1], entry[2], entry[3]
    br, bp, bc, at = entry[4], entry[5], entry[6], entry[7]
    W = _part(WS, at, m, n)
    WT = _part(WS, at + m * n, n, m)
    GW = _part(WS, at + 2 * m * n, m, n)
    GT = _part(WS, at + 3 * m * n, n, m)
    b = WS[at + 4 * m * n:at + 4 * m * n + m]
    gb = WS[at + 4 * m * n + m:at + 4 * m * n + 2 * m]
    # Rows written one after another: writing WT and GT by columns (1 KB apart at n = 128)
    # took 3.6x as long where the workspace put them a multiple of 512 bytes apart.
    for j in range(m):
        for i in range(n):
            W[j, i] = PV[IX[iw + j * n + i]]
            GW[j, i] = 0.0
    for i in range(n):
        for j in range(m):
            WT[i, j] = W[j, i]
            GT[i, j] = 0.0
    for j in range(m):
        b[j] = FC[bc + j]
        gb[j] = 0.0
    for q in range(k):
        b[IX[br + q]] += PV[IX[bp + q]]
    return W, WT, b, GW, GT, gb

# Out[j, r] += sum over i of M[i, j] * In[i, r], in the order of i, for the samples r < n
# of the tile: a layer's units (Z, WT, A) and its inputs' gradients (dA, W, dZ). Four terms
# of the sum are added in one statement, (((z + p0) + p1) + p2) + p3: the same roundings as
# four statements, with a quarter of the loads and stores of z (1.4x faster).
@njit(**INNER)
def _product(Out, M, In, n):
    m = M.shape[0]
    fours = m - m % 4
    for i in range(0, fours, 4):
        a0, a1, a2, a3 = In[i], In[i + 1], In[i + 2], In[i + 3]
        for j in range(Out.shape[0]):
            w0, w1, w2, w3 = M[i, j], M[i + 1, j], M[i + 2, j], M[i + 3, j]
            z = Out[j]
            for r in range(n):
                z[r] = (((z[r] + w0 * a0[r]) + w1 * a1[r]) + w2 * a2[r]) + w3 * a3[r]
    for i in range(fours, m):
        a = In[i]
        for j in range(Out.shape[0]):
            w = M[i, j]
            z = Out[j]
            for r in range(n):
                z[r] += w * a[r]

@njit(**INNER)
def _layer(Z, b, WT, A, n):
    for j in range(Z.shape[0]):
        c = b[j]
        z = Z[j]
        for r in range(n):
            z[r] = c
    _product(Z, WT, A, n)

# G[k, l] += X[k, r] * Y[l, r] for the samples r of the tile, in their order (the loop over
# samples outside), Y's sample contiguous inside (transposed into T). A term whose X is 0
# (a unit's gradient 0, relu off; an input 0) adds only zeros to sums that start at +0.0,
# which leaves them as they are, unless Y is infinite or NaN: it is skipped when the
# tile's Y is finite.
@njit(**INNER)
def _outer(X, Y, n, G, T):
    skip = True
    for l in range(Y.shape[0]):
        for r in range(n):
            y = Y[l, r]
            T[r, l] = y
            skip = skip and math.isfinite(y)
    for r in range(n):
        t = T[r]
        for k in range(X.shape[0]):
            x = X[k, r]
            if x == 0.0 and skip:
                continue
            g = G[k]
            for l in range(G.shape[1]):
                g[l] += x * t[l]

# _outer's sums for an X of one or two rows (a layer of one unit, a first layer's two
# inputs): each G[k, l] a sum over the samples in their order, as there, four of them at a
# time (four chains of additions at once), without transposing Y. Per tile of 64 samples
# and 16 units: 0.16 us against 0.43 for one row, 0.31 against 0.57 for two; even at four.
# Where _outer skips X's zeros, this adds 0 * Y, which leaves a sum that starts at +0.0 as
# it is (it is never -0.0) when Y is finite, and is added there too when Y is not.
@njit(**INNER)
def _dots(X, Y, n, G):
    L = G.shape[1]
    fours = L - L % 4
    for k in range(X.shape[0]):
        x = X[k]
        g = G[k]
        for l in range(0, fours, 4):
            y0, y1, y2, y3 = Y[l], Y[l + 1], Y[l + 2], Y[l + 3]
            g0, g1, g2, g3 = g[l], g[l + 1], g[l + 2], g[l + 3]
            for r in range(n):
                xr = x[r]
                g0 += xr * y0[r]
                g1 += xr * y1[r]
                g2 += xr * y2[r]
                g3 += xr * y3[r]
            g[l], g[l + 1], g[l + 2], g[l + 3] = g0, g1, g2, g3
        for l in range(fours, L):
            y = Y[l]
            z = g[l]
            for r in range(n):
                z += x[r] * y[r]
            g[l] = z

# A layer's weights' gradients dZ @ A.T summed into GW, or into its transpose GT when the
# layer has fewer inputs than units (the first layer, over the samples' few columns): the
# loop inside runs over the longer side. One of GW and GT stays 0.
@njit(**INNER)
def _weight_grads(dZ, A, n, GW, GT, gb, AT):
    for k in range(dZ.shape[0]):
        d = dZ[k]
        g = gb[k]
        for r in range(n):
            g += d[r]
        gb[k] = g
    if A.shape[0] < dZ.shape[0]:
        X, Y, G = A, dZ, GT
    else:
        X, Y, G = dZ, A, GW
    if X.shape[0] <= 2:
        _dots(X, Y, n, G)
    else:
        _outer(X, Y, n, G, AT)

# A layer's gradients added to G (a weight found twice, twice).
@njit(**INNER)
def _scatter(G, IX, entry, GW, GT, gb):
    m, n, k, iw, br, bp = entry[0], entry[1], entry[2], entry[3], entry[4], entry[5]
    for q in range(k):
        G[IX[bp + q]] += gb[IX[br + q]]
    for j in range(m):
        for i in range(n):
            G[IX[iw + j * n + i]] += GW[j, i] + GT[i, j]

# The host code's sums of squares (invariant.py), called from Python: numpy_runtime's
# squares and add_square_grads as loops. numpy's would warn where a sum overflows (eager
# mode is silent), and silencing that (np.errstate) took 1.1 us of a 20 us step (W=16,
# batch 100); numba raises no floating-point warnings. I, C and powered are arrays: the
# positions, the constants c_k, which squares are p ** 2. The sum is four partial sums (of
# the terms k = 0, 1, 2, 3 mod 4), as a dot product splits it: one chain of additions took
# 8 us over 17,025 parameters (W=128), each waiting for the one before.
HOST = dict(cache=True, error_model="python", no_cfunc_wrapper=True)

@njit(**HOST)
def _squares_host(PV, I, C, powered):
    m = I.shape[0]
    fours = m - m % 4
    s0 = s1 = s2 = s3 = 0.0
    for k in range(0, fours, 4):
        p0, p1, p2, p3 = PV[I[k]], PV[I[k + 1]], PV[I[k + 2]], PV[I[k + 3]]
        s0 += C[k] * (p0 * p0)
        s1 += C[k + 1] * (p1 * p1)
        s2 += C[k + 2] * (p2 * p2)
        s3 += C[k + 3] * (p3 * p3)
    for k in range(fours, m):
        p = PV[I[k]]
        s0 += C[k] * (p * p)
    total = (s0 + s1) + (s2 + s3)
    if not math.isfinite(total):
        for k in range(I.shape[0]):
            p = PV[I[k]]
            if powered[k] and math.isfinite(p) and math.isinf(p * p):
                raise OverflowError("squares: (x ** 2) overflowed")
    return total

# ``unique`` is in the call the host code prints for numpy's add_square_grads too; a loop
# adds repeated positions one after another either way.
@njit(**HOST)
def _square_grads_host(G, PV, I, C, adjoint, unique):
    for k in range(I.shape[0]):
        t = (adjoint * C[k]) * PV[I[k]]
        G[I[k]] += t + t
"""
KERNEL_HELPER_NAMES = (
    "INNER",
    "_zeros",
    "_part",
    "_tile",
    "_clear",
    "_gather",
    "_layer",
    "_product",
    "_weight_grads",
    "_scatter",
)
