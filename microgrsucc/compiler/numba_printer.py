"""The numba backend's printer of trees, and the small functions the code it prints calls.

``NumbaPrinter`` writes a tree as a Python expression on floats, as the python backend's
printer does (a ``Select`` is a conditional expression: one branch runs), for a function
that numba compiles. numba's ``math`` functions return NaN or an infinity where CPython's
raise, so each call of a function that can raise goes through a helper that notes it in
the flag ``F`` (a NaN from numbers: ValueError; an infinity from finite numbers:
OverflowError, the numpy backend's rule); a ``Raise`` (a domain check) sets the flag too.
The kernel marks the sample and the eager engine runs it afterwards.
"""

from __future__ import annotations

from microgrsucc.compiler.python_code import PythonPrinter
from microgrsucc.compiler.tree import Binary, Call, Node, Raise

__all__ = ["NUMBA", "NumbaPrinter", "helpers"]

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
