"""The numba backend's printer of trees, and the small functions the code it prints calls.

``NumbaPrinter`` writes a tree as a Python expression on floats, as the python backend's
printer does (a ``Select`` is a conditional expression: one branch runs), for a function
that numba compiles. numba's ``math`` functions return NaN or an infinity where CPython's
raise, so each call of a function that can raise goes through a helper that notes it in
the flag ``F`` (a NaN from numbers: ValueError; an infinity from finite numbers:
OverflowError, the numpy backend's rule); a ``Raise`` (a domain check) sets the flag too.
The kernel marks the sample and the eager engine runs it afterwards. ``LAYER_HELPERS`` is
the source of the functions the kernel calls for each layer.
"""

from __future__ import annotations

from microgrsucc.compiler.python_code import PythonPrinter
from microgrsucc.compiler.tree import Binary, Call, Node, Raise

__all__ = ["LAYER_HELPERS", "NUMBA", "NumbaPrinter", "helpers"]

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
    ``_pow``, ``_fail`` and ``_is_integer``, each compiled by numba and cached with the kernel."""
    lines = [
        "@njit(cache=True, error_model='python')",
        "def _fail(F):",
        "    F[0] = True",
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
            "        F[0] = True",
            "    return r",
        ]
    return lines


# A layer's code, called by the kernel: its weights (also transposed, for the order of the
# forward loop) and biases (constants plus parameters) gathered from PV before the loop over
# samples; per sample its forward pass (Z = b + W @ a, each sum in eager mode's order) and
# backward pass (the weights' and biases' gradients summed over the samples, and the input's
# gradient); its gradients added to G after the loop (a weight found twice, twice).
LAYER_HELPERS = """
@njit(cache=True, error_model='python')
def _gather(PV, IW, bc, br, bp):
    W = np.empty(IW.shape)
    WT = np.empty((IW.shape[1], IW.shape[0]))
    finite = True
    for j in range(IW.shape[0]):
        for i in range(IW.shape[1]):
            W[j, i] = PV[IW[j, i]]
            WT[i, j] = W[j, i]
            finite = finite and math.isfinite(W[j, i])
    b = bc.copy()
    for k in range(bp.shape[0]):
        b[br[k]] += PV[bp[k]]
    return W, WT, finite, b

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
""".splitlines()
