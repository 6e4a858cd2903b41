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
from microgrsucc.compiler.tree import Binary, Call, Node, Raise

__all__ = ["KERNEL_HELPERS", "KERNEL_HELPER_NAMES", "NUMBA", "NumbaPrinter", "helpers"]

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


def helpers(calls: dict[str, int]) -> list[str]:
    """The source of the helpers for the checked functions ``calls`` (name -> arity), and of
    ``_pow``, ``_fail`` and ``_is_integer``, each compiled by numba (if the kernel calls it) and cached
    with the kernel. ``F`` is a float64 array of one element, set to 1.0."""
    lines = [
        "@njit(cache=True, error_model='python')",
        "def _fail(F):",
        "    F[0] = 1.0",
        "    return math.nan",
        "@njit(cache=True, error_model='python')",
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
            "@njit(cache=True, error_model='python')",
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
# Per layer: its weights (also transposed, for the order of the forward loop) and biases
# (constants plus parameters) gathered from PV before the loop over samples, with zeroed
# arrays for their gradients; per sample its forward pass (Z = b + W @ a, each sum in eager
# mode's order) and backward pass (the weights' and biases' gradients summed over the
# samples, and the input's gradient); its gradients added to G after the loop (a weight
# found twice, twice). A kernel allocates its vectors with ``_zeros`` (one allocation compiled
# once, not one per shape and type in each kernel). The matrices stay 2-d: the index of a
# flat one (W[k*n + l]) is not known to be >= 0, so numba's wraparound check stops LLVM from
# vectorising the loops (measured: 1.5x slower at 10,000 samples).
KERNEL_HELPERS = """import math
import numpy as np
from numba import njit

# Typed here, so that a literal size in a kernel (_zeros(2)) does not compile another copy;
# np.empty and a loop, as np.zeros would compile both and more.
@njit("float64[::1](int64)", cache=True, error_model='python')
def _zeros(n):
    a = np.empty(n)
    for i in range(n):
        a[i] = 0.0
    return a

@njit(cache=True, error_model='python')
def _gather(PV, IW, bc, br, bp):
    m, n = IW.shape
    W = np.empty((m, n))
    WT = np.empty((n, m))
    GW = np.empty((m, n))
    finite = True
    for j in range(m):
        for i in range(n):
            w = PV[IW[j, i]]
            W[j, i] = w
            WT[i, j] = w
            GW[j, i] = 0.0
            finite = finite and math.isfinite(w)
    b = _zeros(m)
    for j in range(m):
        b[j] = bc[j]
    for k in range(bp.shape[0]):
        b[br[k]] += PV[bp[k]]
    return W, WT, finite, b, GW, _zeros(m)

@njit(cache=True, error_model='python')
def _layer(Z, b, WT, a):
    for j in range(Z.shape[0]):
        Z[j] = b[j]
    for i in range(WT.shape[0]):
        x = a[i]
        for j in range(Z.shape[0]):
            Z[j] += WT[i, j] * x

# A unit whose gradient is 0 (relu off) adds only zeros to sums that start at +0.0, which
# leaves them as they are, unless a weight or an input is infinite or NaN: it is skipped.
# (This test as a function of its own, and two functions below rather than one with a flag
# for the input's gradient: either change made the kernel 1.4x slower at 10,000 samples.)
@njit(cache=True, error_model='python')
def _skipped(a, finite):
    if not finite:
        return False
    for x in a:
        if not math.isfinite(x):
            return False
    return True

@njit(cache=True, error_model='python')
def _weight_grads(dZ, a, W, finite, GW, gb):
    skip = _skipped(a, finite)
    for k in range(W.shape[0]):
        g = dZ[k]
        if g == 0.0 and skip:
            continue
        gb[k] += g
        for l in range(W.shape[1]):
            GW[k, l] += g * a[l]

@njit(cache=True, error_model='python')
def _layer_grads(dZ, a, W, finite, GW, gb, dA):
    skip = _skipped(a, finite)
    for k in range(W.shape[0]):
        g = dZ[k]
        if g == 0.0 and skip:
            continue
        gb[k] += g
        for l in range(W.shape[1]):
            GW[k, l] += g * a[l]
        for l in range(W.shape[1]):
            dA[l] += g * W[k, l]

@njit(cache=True, error_model='python')
def _scatter(G, IW, GW, br, bp, gb):
    for k in range(bp.shape[0]):
        G[bp[k]] += gb[br[k]]
    for j in range(IW.shape[0]):
        for i in range(IW.shape[1]):
            G[IW[j, i]] += GW[j, i]
"""
KERNEL_HELPER_NAMES = ("_zeros", "_gather", "_layer", "_weight_grads", "_layer_grads", "_scatter")
