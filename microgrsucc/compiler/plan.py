"""What both backends need to know about a trace before writing code.

Which nodes the root uses; which vary per sample (they depend on a sample argument; the
rest is computed once per call, outside the loop over samples); which need a gradient
(they depend on a parameter: backward is pruned to those); which must have a name (used
twice, read by a derivative, or computed outside the loop) and which are inlined into
their one consumer. Each op's code comes from ``symbolic.derive``, rendered by a
``Dialect``: plain Python on floats, or numpy on arrays.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from microgrsucc.compiler.symbolic import RAISE, Branch, OpCode, Sym, Tree, derive, literal
from microgrsucc.compiler.trace import CONST, INPUT, OP, PARAM, Trace

__all__ = ["Dialect", "Plan", "render"]

_PLACEHOLDER = re.compile(r"\b_A(\d+)\b|\b_OUT\b|\b_G\b")


class Dialect:
    """How a backend writes a conditional and a failing path."""

    def __init__(self, where: Callable[[str, str, str], str], fail: str, *, distribute: bool) -> None:
        # distribute: scale each leaf of a conditional (Python evaluates one branch), or
        # scale the whole conditional once (numpy evaluates every branch over the batch).
        self.where, self.fail, self.distribute = where, fail, distribute


def render(tree: Tree, dialect: Dialect, scale: str | None = None) -> str:
    """A decision tree as one expression; with ``scale``, each leaf times that expression."""
    if scale is not None and isinstance(tree, Branch) and not dialect.distribute:
        return f"({scale} * {render(tree, dialect)})"
    if isinstance(tree, Branch):
        yes, no = render(tree.yes, dialect, scale), render(tree.no, dialect, scale)
        return yes if yes == no else dialect.where(tree.cond, yes, no)
    if tree is RAISE:
        return dialect.fail
    leaf = tree.src if isinstance(tree, Sym) else literal(tree)
    if scale is None:
        return leaf
    if leaf == "1.0":
        return scale
    if leaf == "(-1.0)":
        return f"(-{scale})"
    return f"({scale} * {leaf})"


def as_format(code: str) -> str:
    """Code with its placeholders as ``str.format`` fields: ``{0}``, ``{1}``, ``{out}``, ``{g}``.

    Generated code has no braces of its own (numbers and names only), so ``format`` fills in
    operands at the speed of a string method rather than a regular expression per node.
    """

    def field(m: re.Match[str]) -> str:
        name = m.group(1) if m.group(1) is not None else ("out" if m.group(0) == "_OUT" else "g")
        return "{" + name + "}"

    return _PLACEHOLDER.sub(field, code)


def _counts(code: str, arity: int) -> tuple[list[int], bool]:
    return [code.count("{" + str(k) + "}") for k in range(arity)], "{out}" in code


class _OpInfo:
    """An op's code in one dialect, and which of its operands (and output) the code reads."""

    def __init__(self, code: OpCode, dialect: Dialect) -> None:
        arity = code.op.arity
        self.forward = None if code.forward is None else as_format(render(code.forward, dialect))
        fwd = self.forward
        self.forward_uses = [0] * arity if fwd is None else _counts(fwd, arity)[0]
        if code.partials is None:  # a call of the table's derivative reads every input and out
            self.partials: list[str | None] = [None] * arity
            self.partial_uses = [[1] * arity for _ in range(arity)]
            self.reads_out = [True] * arity
        else:
            rendered = [as_format(render(p, dialect, "_G")) for p in code.partials]
            self.partials = list(rendered)
            found = [_counts(p, arity) for p in rendered]
            self.partial_uses = [uses for uses, _ in found]
            self.reads_out = [reads for _, reads in found]


class Plan:
    """The analysis of one trace for one dialect (see the module docstring)."""

    def __init__(self, trace: Trace, dialect: Dialect, *, backward: bool, inline: bool = True) -> None:
        self.trace, self.dialect = trace, dialect
        n = len(trace.kinds)
        kinds, args = trace.kinds, trace.args
        live = [False] * n
        live[trace.root] = True
        for i in range(n - 1, -1, -1):
            if live[i]:
                for j in args[i]:
                    live[j] = True
        self.live = live
        self.varying = [False] * n
        self.grad = [False] * n
        for i in range(n):
            if kinds[i] == INPUT:
                self.varying[i] = True
            elif kinds[i] == PARAM:
                self.grad[i] = True
            elif kinds[i] == OP:
                self.varying[i] = any(self.varying[j] for j in args[i])
                self.grad[i] = any(self.grad[j] for j in args[i])
        self.forward_code: list[str | None] = [None] * n
        self.partial_code: list[list[str | None] | None] = [None] * n
        self._info: dict[int, _OpInfo] = {}
        uses = [0] * n
        named = [False] * n
        for i in range(n):
            if not live[i] or kinds[i] != OP:
                continue
            op = trace.ops[i]
            assert op is not None
            info = self._info.get(id(op))
            if info is None:
                info = self._info[id(op)] = _OpInfo(derive(op), dialect)
            self.forward_code[i] = info.forward
            for k, j in enumerate(args[i]):
                uses[j] += 1
                if info.forward_uses[k] > 1 or (self.varying[i] and not self.varying[j]):
                    named[j] = True
            if backward and self.grad[i]:
                partials: list[str | None] = []
                for k, j in enumerate(args[i]):
                    if not self.grad[j]:
                        partials.append(None)
                        continue
                    partials.append(info.partials[k])
                    named[i] = named[i] or info.reads_out[k]
                    for kk, jj in enumerate(args[i]):
                        if info.partial_uses[k][kk]:
                            named[jj] = True
                self.partial_code[i] = partials
        for i in range(n):
            if uses[i] != 1:
                named[i] = True
        named[trace.root] = True
        if not inline:  # every node its own statement (for measuring what inlining buys)
            named = [True] * n
        self.named = [named[i] and live[i] and kinds[i] == OP for i in range(n)]

    def order(self, varying: bool) -> list[int]:
        """The live op nodes that do (or do not) vary per sample, inputs first."""
        t = self.trace
        return [
            i for i in range(len(t.kinds)) if self.live[i] and t.kinds[i] == OP and self.varying[i] == varying
        ]

    def leaf(self, i: int, param: Callable[[int], str], arg: Callable[[int], str]) -> str | None:
        kind = self.trace.kinds[i]
        if kind == CONST:
            return literal(self.trace.payload[i])
        if kind == PARAM:
            return param(int(self.trace.payload[i]))
        if kind == INPUT:
            return arg(int(self.trace.payload[i]))
        return None


def fallbacks(plan: Plan) -> dict[str, Any]:
    """The table functions generated code calls where there is no derived code, by name."""
    names: dict[str, Any] = {}
    for i, op in enumerate(plan.trace.ops):
        if op is not None and plan.live[i]:
            names[f"_fwd{id(op)}"] = op.forward
            names[f"_der{id(op)}"] = op.derivative
    return names
