"""What both backends need to know about a trace before writing code.

Which nodes are computed (every op the loss computed, used or not); which vary per
sample (they depend on a sample argument; the rest is computed once per call, outside
the loop over samples); which need a gradient
(they depend on a parameter: backward is pruned to those); which must have a name (used
twice, read by a derivative, or computed outside the loop) and which are inlined into
their one consumer. Each op's code is a tree from ``tree.derive``, which a backend's
``Printer`` writes: plain Python on floats, or numpy on arrays.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from itertools import compress, count
from typing import Any, Protocol

from microgrsucc.compiler.trace import CONST, INPUT, OP, PARAM, Trace
from microgrsucc.compiler.tree import (
    OUT,
    Binary,
    Const,
    Node,
    Raise,
    Select,
    Symbol,
    Unary,
    arguments,
    derive,
    height,
    uses,
)

__all__ = ["G", "Plan", "Printer"]

G = Symbol("g")
"""The gradient arriving at an op's output, in the scaled partial trees (``g * partial``)."""


def times(g: Node, tree: Node, *, into_branches: bool) -> Node:
    """``g * tree``, simplified for a 1 or -1 leaf. With ``into_branches`` the product goes into
    each leaf of a ``Select`` (a target that evaluates one branch); else around the whole."""
    if isinstance(tree, Select) and into_branches:
        return Select(
            tree.cond, times(g, tree.yes, into_branches=True), times(g, tree.no, into_branches=True)
        )
    if isinstance(tree, Raise):
        return tree
    if isinstance(tree, Const) and tree.value == 1.0:
        return g
    if isinstance(tree, Const) and tree.value == -1.0:
        return Unary("neg", g)
    return Binary("*", g, tree)


class Printer(Protocol):
    """What a backend's printer of trees gives the plan."""

    # True: a partial times g is written into each branch of a Select (Python evaluates one
    # branch); False: around the whole Select (numpy evaluates every branch over the batch).
    into_branches: bool

    def expr(self, tree: Node, env: dict[str, str]) -> str:
        """``tree`` as an expression; ``env`` gives the expression of each symbol."""
        ...

    def literal(self, x: float) -> str:
        """A float as an exact literal."""
        ...


class _OpInfo:
    """An op's trees for one printer, and which of its operands (and output) they read."""

    def __init__(self, op: Any, printer: Printer) -> None:
        self.op = op
        derived = derive(op)
        arity = op.arity
        self.names = [a.name for a in arguments(arity)]
        self.forward = derived.forward
        fwd = self.forward
        self.forward_uses = [0] * arity if fwd is None else [uses(fwd, n) for n in self.names]
        self.forward_height = 1 if fwd is None else height(fwd)
        # The operands the forward code reads more than once: they need a name.
        self.repeated = [k for k, u in enumerate(self.forward_uses) if u > 1]
        self.partials: list[Node | None]
        self.scaled: list[Node | None]
        if derived.partials is None:  # a call of the table's derivative reads every input and out
            self.partials = self.scaled = [None] * arity
            self.partial_uses = [[1] * arity for _ in range(arity)]
            self.reads_out = [True] * arity
            self.g_uses = [1] * arity
            self.scaled_height = [1] * arity
        else:
            self.partials = list(derived.partials)
            scaled = [times(G, p, into_branches=printer.into_branches) for p in derived.partials]
            self.scaled = list(scaled)
            self.partial_uses = [[uses(p, n) for n in self.names] for p in scaled]
            self.reads_out = [uses(p, OUT.name) > 0 for p in scaled]
            self.g_uses = [uses(p, G.name) for p in scaled]
            self.scaled_height = [height(p) for p in scaled]
        # Per operand k, the operands its scaled partial reads.
        self.reads = [[kk for kk, u in enumerate(us) if u] for us in self.partial_uses]
        # Per pattern of the operands that need a gradient, what the backward code reads: see
        # backward_reads. A few patterns per op, met once per op node.
        self.read_back: dict[tuple[bool, ...], tuple[tuple[bool, ...], bool, list[int]]] = {}

    def backward_reads(self, needed: tuple[bool, ...]) -> tuple[tuple[bool, ...], bool, list[int]]:
        """``(needed, reads_out, operands)`` where the operands ``needed`` marks need a gradient:
        whether their partials read the op's output, and which operands they read."""
        found = self.read_back.get(needed)
        if found is None:
            ks = [k for k, need in enumerate(needed) if need]
            reads_out = any(self.reads_out[k] for k in ks)
            found = self.read_back[needed] = (
                needed,
                reads_out,
                sorted({kk for k in ks for kk in self.reads[k]}),
            )
        return found

    def env(self, operands: list[str], out: str | None = None, g: str | None = None) -> dict[str, str]:
        env = dict(zip(self.names, operands, strict=True))
        if out is not None:
            env[OUT.name] = out
        if g is not None:
            env[G.name] = g
        return env


class Plan:
    """The analysis of one trace for one dialect (see the module docstring)."""

    def __init__(self, trace: Trace, printer: Printer, *, backward: bool, inline: bool = True) -> None:
        self.trace, self.printer = trace, printer
        n = len(trace.kinds)
        kinds, args, root = trace.kinds, trace.args, trace.root
        # One pass over the nodes in the order they were made (each after its inputs), with
        # each op's facts read from its _OpInfo: a trace has a node per scalar op, so every
        # extra pass or per-node call costs ~10 ms per 100k nodes.
        varying = [False] * n
        grad = [False] * n
        uses = [0] * n
        named = [False] * n
        # Every op the loss computed is computed again, used or not: eager mode runs the whole
        # function, so an op whose result is dropped still raises its domain error. Leaves are
        # live where an op reads them.
        live = [kind == OP for kind in kinds]
        live[root] = True
        info_of: list[_OpInfo | None] = [None] * n  # each op node's trees
        # Per op node, per input: True where a gradient flows to that input.
        needs: list[tuple[bool, ...] | None] = [None] * n
        infos: dict[Any, _OpInfo] = {}  # by op: a Primitive hashes by identity
        grad_of = grad.__getitem__
        for i, op in enumerate(trace.ops):
            if op is None:  # a leaf: a sample argument, a parameter or a constant
                kind = kinds[i]
                if kind == INPUT:
                    varying[i] = True
                elif kind == PARAM:
                    grad[i] = True
                continue
            info = infos.get(op)
            if info is None:
                info = infos[op] = _OpInfo(op, printer)
            info_of[i] = info
            a = args[i]
            vi = gi = False
            for j in a:
                uses[j] += 1
                live[j] = True
                vi = vi or varying[j]
                gi = gi or grad[j]
            varying[i], grad[i] = vi, gi
            if info.repeated:  # operands the op's own code reads more than once
                for k in info.repeated:
                    named[a[k]] = True
            if vi:  # an input computed once per call is read from a name inside the loop
                for j in a:
                    if not varying[j]:
                        named[j] = True
            if backward and gi:
                needed = tuple(map(grad_of, a))
                found = info.read_back.get(needed)  # backward_reads, without a call per node
                needed, reads_out, read = found if found is not None else info.backward_reads(needed)
                if reads_out:
                    named[i] = True
                for k in read:
                    named[a[k]] = True
                needs[i] = needed  # one tuple per op and pattern, shared by its nodes
        self.live, self.varying, self.grad = live, varying, grad
        self.info, self.partial_needed = info_of, needs
        self.uses = uses
        """How many live ops read each node."""
        if inline:
            self.named = [
                kind == OP and (nm or u != 1) for kind, nm, u in zip(kinds, named, uses, strict=True)
            ]
            if kinds[root] == OP:
                self.named[root] = True
        else:  # every node its own statement (for measuring what inlining buys)
            self.named = [kind == OP for kind in kinds]
        self.orders: dict[bool, list[int]] = {}
        self.op_infos = infos
        """Each op of the trace's nodes once, with its trees."""

    def with_printer(self, printer: Printer) -> Plan:
        """The same analysis with each op's trees for ``printer``: which nodes are named does not
        depend on the printer (only how a partial is multiplied by ``g``), so it is not redone."""
        other = copy.copy(self)
        other.printer = printer
        fresh = {id(info): _OpInfo(info.op, printer) for info in self.op_infos.values()}
        other.info = list(map(fresh.get, map(id, self.info)))  # None stays None: no such id
        other.op_infos = {info.op: info for info in fresh.values()}
        return other

    def order(self, varying: bool) -> list[int]:
        """The live op nodes that do (or do not) vary per sample, inputs first."""
        if not self.orders:  # both at once
            vary = self.varying
            ops = list(compress(count(), map(OP.__eq__, self.trace.kinds)))  # all live
            self.orders[True] = list(compress(ops, map(vary.__getitem__, ops)))
            self.orders[False] = [i for i in ops if not vary[i]]
        return list(self.orders[varying])

    def leaves(self, param: Callable[[int], str], arg: Callable[[int], str]) -> list[str | None]:
        """Each node's expression if it is a leaf: a constant's literal, ``param(j)`` for
        parameter j, ``arg(k)`` for sample argument k; None for an op node. One pass, with no
        call per node but the leaf's own (a wide model has a leaf per parameter)."""
        t = self.trace
        kinds, payload, literal = t.kinds, t.payload, self.printer.literal
        expr: list[str | None] = [None] * len(kinds)
        for i, kind in enumerate(kinds):
            if kind == PARAM:
                expr[i] = param(int(payload[i]))
            elif kind == CONST:
                expr[i] = literal(payload[i])
            elif kind == INPUT:
                expr[i] = arg(int(payload[i]))
        return expr


def fallbacks(plan: Plan) -> dict[str, Any]:
    """The table functions generated code calls where there is no derived code, by name."""
    names: dict[str, Any] = {}
    for info in plan.op_infos.values():
        op = info.op
        names[f"_fwd{id(op)}"] = op.forward
        names[f"_der{id(op)}"] = op.derivative
    return names
