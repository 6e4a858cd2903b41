"""The part of a loss that does not vary per sample, as host code around a batch kernel.

The numba and jax backends compute what varies per sample in a kernel. What does not (a
penalty over the parameters, a constant term) is computed once per call, on the host, before
the kernel: each sum of squares of parameters (``layers.find_squares``: an L2 penalty) as one
dot product over their positions (``numpy_runtime.squares``; for numba a compiled loop), and
every other node as Python floats, reading only the parameters those nodes read. After the
kernel comes its gradient: the kernel's gradients of the nodes it read (``gH``) are passed
down the same nodes, each sum of squares' gradient is scattered into ``G`` in one call, and
the other parameters' gradients are added to ``G`` in one call. The host's work grows with
the number of these nodes, not of parameters.

The generated statements read ``PV`` (the parameters, a 1-d float64 array), ``count`` and
``gH``, and write ``total`` (when the root does not vary) and ``G`` (a float64 array); they
call the names of ``namespace``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from microgrsucc.compiler.layers import Squares, find_squares
from microgrsucc.compiler.numpy_runtime import add_square_grads, span, squares
from microgrsucc.compiler.plan import Plan, fallbacks
from microgrsucc.compiler.python_code import Contribution, Replay, emit_backward, emit_forward, summed
from microgrsucc.compiler.python_code import namespace as python_namespace
from microgrsucc.compiler.trace import PARAM, Trace

__all__ = ["Invariant", "ScalarGrads", "replaying", "square_grads", "square_sums"]


def square_sums(
    found: list[Squares], expr: list[str | None], consts: dict[str, Any], out: list[str], arrays: bool = False
) -> None:
    """Statements computing each sum of squares as one dot product over its parameters'
    positions in ``PV``; ``expr`` of each sum's node becomes its name.

    The statements call ``_squares(PV, I, C, powered)``: ``I`` the positions (a slice for a
    run of them), ``C`` the constants (None when all are 1) and ``powered`` the mask of the
    squares written ``p ** 2`` (None when none is); with ``arrays`` each is an array, as a
    compiled ``_squares`` takes them."""
    for k, sq in enumerate(found):
        run = None if arrays else span(sq.params)  # every parameter, in order: a slice, no gather
        consts[f"_sqI{k}"] = np.array(sq.params, dtype=np.intp) if run is None else run
        ones = set(sq.weights) == {1.0} and not arrays
        consts[f"_sqC{k}"] = None if ones else np.array(sq.weights, dtype=np.float64)
        consts[f"_sqP{k}"] = np.array(sq.powered, dtype=np.bool_) if arrays or any(sq.powered) else None
        constants = "".join(f" + {expr[c]}" for c in sq.constants)
        out.append(f"_t{sq.node} = _squares(PV, _sqI{k}, _sqC{k}, _sqP{k}){constants}")
        expr[sq.node] = f"_t{sq.node}"


def square_grads(found: list[Squares], contrib: dict[int, list[Contribution]], out: list[str]) -> None:
    """Statements adding the gradient of each sum of squares that received one to ``G``, in
    one call each (after ``square_sums``, whose names they read)."""
    for k, sq in enumerate(found):
        cs = contrib.pop(sq.node, None)
        if cs:
            adjoint, _ = summed(f"_a{sq.node}", cs, out)
            unique = len(set(sq.params)) == len(sq.params)
            out.append(f"_square_grads(G, PV, _sqI{k}, _sqC{k}, {adjoint}, {unique})")


class ScalarGrads:
    """Parameters' gradients summed as Python floats (``g3 += c``: cheaper than items of G)
    and added to ``G`` in one call: ``sink`` is ``emit_backward``'s, ``zeros`` go before the
    statements it wrote and ``scatter`` after them."""

    def __init__(self, t: Trace) -> None:
        self.t = t
        self.found: set[int] = set()

    def sink(self, j: int, c: str) -> str | None:
        if self.t.kinds[j] != PARAM:
            return None
        self.found.add(int(self.t.payload[j]))
        return f"g{self.t.payload[j]} += {c}"

    def zeros(self) -> list[str]:
        return [f"g{j} = 0.0" for j in sorted(self.found)]

    def scatter(self, consts: dict[str, Any]) -> list[str]:
        index = sorted(self.found)
        if not index:
            return []
        consts["_GI"] = np.array(index, dtype=np.intp)
        return [f"G[_GI] += np.array([{', '.join(f'g{j}' for j in index)}])"]


def replaying(step: Callable[..., Any], quiet: bool = False) -> Callable[..., Any]:
    """``checked(P, samples, count) -> (total, G)`` over a generated ``run`` that also returns
    the samples the kernel noted: ``Replay`` hands those to the eager engine. ``quiet`` says
    that the host code does no arithmetic in numpy (``Invariant.quiet``)."""

    def checked_quietly(P: Any, samples: Any, count: int) -> Any:
        total, grads, bad = step(P, samples, count)
        if bad:
            raise Replay(bad, (total, grads))
        return total, grads

    if quiet:
        return checked_quietly

    def checked(P: Any, samples: Any, count: int) -> Any:
        # The host code's numpy (a sum of squares overflowing to inf) warns where eager mode
        # is silent, and where warnings are errors (pytest's filterwarnings) that warning
        # became a RuntimeError "the generated code raised". The numpy backend ignores them too.
        with np.errstate(all="ignore"):
            return checked_quietly(P, samples, count)

    return checked


class Invariant:
    """The host code of a trace's nodes that do not vary per sample (see the module docstring).

    ``plan`` is the trace's plan for the python printer; ``consts`` the arrays the statements
    read. ``compiled_squares`` replaces ``numpy_runtime``'s ``squares`` and
    ``add_square_grads`` (the numba backend's compiled loops, which take arrays only).
    """

    def __init__(
        self, plan: Plan, compiled_squares: tuple[Callable[..., Any], Callable[..., Any]] | None = None
    ) -> None:
        self.plan = plan
        self.compiled_squares = compiled_squares
        self.scatters = False  # whether ``backward`` adds gradients to G with numpy
        self.t = plan.trace
        self.squares = find_squares(plan)
        inside = {i for sq in self.squares for i in sq.interior}
        self.order = [i for i in plan.order(False) if i not in inside]
        self.expr: list[str | None] = plan.leaves(lambda j: f"p{j}", lambda k: "")
        self.consts: dict[str, Any] = {}

    def namespace(self) -> dict[str, Any]:
        """The names the statements read (after ``forward`` and ``backward``, which add arrays):
        math's functions, numpy, the table's fallbacks."""
        names = python_namespace()
        names.update(fallbacks(self.plan))
        sums, grads = self.compiled_squares or (squares, add_square_grads)
        names.update(self.consts, np=np, _squares=sums, _square_grads=grads)
        return names

    @property
    def quiet(self) -> bool:
        """Whether the statements do no arithmetic in numpy, which would warn of an overflow
        where eager mode is silent (after ``backward``): true with ``compiled_squares`` and no
        other parameter's gradient than the squares'."""
        return self.compiled_squares is not None and not self.scatters

    def forward(self) -> list[str]:
        """Statements computing the invariant nodes (``expr`` of each becomes its expression)."""
        t = self.t
        read = {int(t.payload[j]) for i in self.order for j in t.args[i] if t.kinds[j] == PARAM}
        if t.kinds[t.root] == PARAM:
            read.add(int(t.payload[t.root]))
        out: list[str] = []
        if read:  # Python floats: numpy's scalars would not raise where Python's floats do
            self.consts["_RI"] = np.array(sorted(read), dtype=np.intp)
            out.append(f"{', '.join(f'p{j}' for j in sorted(read))}, = PV[_RI].tolist()")
        square_sums(self.squares, self.expr, self.consts, out, arrays=self.compiled_squares is not None)
        emit_forward(self.plan, self.order, self.expr, [0] * len(t.kinds), out)
        return out

    def backward(self, held: list[int]) -> list[str]:
        """Statements setting ``total`` if the root does not vary per sample, and adding the
        gradients of the invariant nodes' parameters to ``G``; ``gH[k]`` is the kernel's
        gradient of the node ``held[k]`` (after ``forward``)."""
        t, plan = self.t, self.plan
        contrib: dict[int, list[Contribution]] = {j: [(f"gH[{k}]", 0)] for k, j in enumerate(held)}
        out: list[str] = []
        if not plan.varying[t.root]:
            out.append(f"total = {self.expr[t.root]} * count")
            if plan.grad[t.root]:
                contrib.setdefault(t.root, []).append(("count", 0))
        grads = ScalarGrads(t)
        backward: list[str] = []
        emit_backward(plan, self.order, self.expr, contrib, grads.sink, backward)
        if t.kinds[t.root] == PARAM:  # the loss is a parameter: no op passes its gradient on
            for c, _ in contrib.pop(t.root, []):
                backward.append(str(grads.sink(t.root, c)))
        out += grads.zeros()
        out += backward
        scatter = grads.scatter(self.consts)
        self.scatters = bool(scatter)
        out += scatter
        square_grads(self.squares, contrib, out)
        return out
