"""The python backend: straight-line code for one sample, in a loop over the samples.

One function ``run(P, samples, count)`` is written per trace: the parameters are unpacked
into locals once, what does not vary per sample is computed before the loop, and the loop
body is the sample's forward pass followed by its backward pass, with gradients summed in
locals. Single-use nodes are inlined into their consumer (a neuron is one statement), a
gradient that passes through an add is not copied, and the loop's temporaries share
registers given from their last reads (``Registers``).

Each op's code is its tree (``tree.derive``) written by ``PythonPrinter``: a ``Select`` is a
conditional expression, so only the branch a sample takes is computed, and a ``Raise`` is
``_fail()``, which hands the batch to the eager engine. Nesting is capped (``_LIMIT``): a
deeper expression, or a sum of more than ``_TERMS`` terms, is split into statements.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

from microgrsucc import ops
from microgrsucc.compiler.plan import Plan, fallbacks
from microgrsucc.compiler.registers import Registers
from microgrsucc.compiler.trace import OP, PARAM, Trace
from microgrsucc.compiler.tree import Binary, Call, Compare, Const, Node, Raise, Select, Symbol, Unary

__all__ = [
    "DOMAIN_ERRORS",
    "PYTHON",
    "Registers",
    "Replay",
    "generated_code_error",
    "emit_backward",
    "emit_forward",
    "generate",
    "generate_value",
    "namespace",
]


class Replay(Exception):
    """Raised by generated code where the table's function raises: the eager engine takes over.

    ``samples`` are the positions of the samples to run eagerly (None: the whole batch), and
    ``result`` what the generated code computed, which stands if the eager engine raises
    nothing for those samples (a domain check of a branch the sample does not take).
    """

    def __init__(self, samples: list[int] | None = None, result: Any = None) -> None:
        super().__init__()
        self.samples, self.result = samples, result


# The errors of the table's functions (math's domain and range errors, a domain check):
# generated code that raises one hands the batch to the eager engine, which raises its own.
DOMAIN_ERRORS = (Replay, ArithmeticError, ValueError)


def generated_code_error(err: Exception, source: str) -> RuntimeError:
    """Any other error in generated code is a bug of the compiler: say where, do not hide it."""
    tb = err.__traceback__
    line = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("<microgrsucc.compile"):
            lines = source.splitlines()
            number = tb.tb_lineno
            text = lines[number - 1].strip() if number <= len(lines) else "?"
            line = f" at generated line {number}: {text}"
        tb = tb.tb_next
    return RuntimeError(f"compile: the generated code raised {type(err).__name__}: {err}{line}")


def _fail() -> float:
    raise Replay


def replaying(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A table function called from generated code: whatever it raises, the eager engine
    raises too, in its own words (naming the op and the operands)."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as err:
            raise Replay from err

    return call


class PythonPrinter:
    """Prints a tree as a Python expression on floats, evaluating one branch of a Select."""

    into_branches = True

    def literal(self, x: float) -> str:
        """A float as exact source text; ``inf`` and ``nan`` are names the namespace binds."""
        x = float(x)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "(-inf)"
        return repr(x) if x >= 0 else f"({x!r})"

    def expr(self, n: Node, env: dict[str, str]) -> str:
        if isinstance(n, Const):
            return self.literal(n.value)
        if isinstance(n, Symbol):
            return env[n.name]
        if isinstance(n, Call):
            return f"{self.function(n.fn)}({', '.join(self.expr(a, env) for a in n.args)})"
        if isinstance(n, Unary):
            a = self.expr(n.a, env)
            return f"(-{a})" if n.op == "neg" else f"{self.function('fabs')}({a})"
        if isinstance(n, (Binary, Compare)):
            return f"({self.expr(n.a, env)} {n.op} {self.expr(n.b, env)})"
        if isinstance(n, Select):
            return self.select(n, env)
        assert isinstance(n, Raise)
        return "_fail()"

    def function(self, name: str) -> str:
        """The name a math function (or predicate) has in the generated code's namespace."""
        return "abs" if name == "fabs" else name

    def select(self, n: Select, env: dict[str, str]) -> str:
        return f"({self.expr(n.yes, env)} if {self.expr(n.cond, env)} else {self.expr(n.no, env)})"


PYTHON = PythonPrinter()


def namespace() -> dict[str, Any]:
    """The names Python code printed from trees reads: math's functions, ``is_integer``, ``_fail``."""
    names: dict[str, Any] = {k: v for k, v in vars(math).items() if not k.startswith("_")}
    names.update(_fail=_fail, _FLOAT=ops.FLOAT, abs=builtins.abs, is_integer=float.is_integer)
    return names


_LIMIT = 40  # deepest nesting of one expression; Python's parser stops at 200 parentheses
_TERMS = 16  # the most terms one statement sums; more are accumulated in further statements


def emit_forward(
    plan: Plan,
    order: list[int],
    expr: list[str | None],
    depth: list[int],
    out: list[str],
    names: Registers | None = None,
) -> None:
    """Statements computing the nodes of ``order``; ``expr[i]`` becomes node i's expression
    and ``depth[i]`` its nesting (a name is 0). ``names`` names the temporaries."""
    names = Registers() if names is None else names
    t = plan.trace
    for i in order:
        op, info = t.ops[i], plan.info[i]
        assert op is not None and info is not None
        a = [expr[j] or "" for j in t.args[i]]
        fwd = info.forward
        e = f"_fwd{id(op)}({', '.join(a)})" if fwd is None else plan.printer.expr(fwd, info.env(a))
        d = max((depth[j] for j in t.args[i]), default=0) + info.forward_height
        if plan.named[i] or d > _LIMIT:
            expr[i], depth[i] = names.assign(f"_t{i}", e, names.of(*a), out), 0
        else:
            expr[i], depth[i] = e, d
            names.note(e, names.of(*a))


# A gradient received by a node: its expression and nesting (0: a name or a literal).
Contribution = tuple[str, int]


def summed(name: str, cs: list[Contribution], out: list[str], names: Registers | None = None) -> Contribution:
    """The sum of ``cs``: one expression for a few terms, else statements accumulating ``name``."""
    names = Registers() if names is None else names
    if len(cs) == 1:
        return cs[0]
    terms = [c for c, _ in cs]
    if len(cs) <= _TERMS:
        text = "(" + " + ".join(terms) + ")"
        names.note(text, names.of(*terms))
        return text, max(d for _, d in cs) + 1
    # The first statement makes a new number (or array): += may then update it in place.
    target = names.assign(name, " + ".join(terms[:_TERMS]), names.of(*terms[:_TERMS]), out)
    for k in range(_TERMS, len(terms), _TERMS):
        names.statement(names.of(*terms[k : k + _TERMS], target))
        out.append(f"{target} += {' + '.join(terms[k : k + _TERMS])}")
    return target, 0


def emit_backward(
    plan: Plan,
    order: list[int],
    expr: list[str | None],
    contrib: dict[int, list[Contribution]],
    sink: Callable[[int, str], str | None],
    out: list[str],
    names: Registers | None = None,
) -> None:
    """Statements passing gradients down ``order`` (reversed); ``contrib[i]`` holds what node i
    has received. ``sink(j, c)`` gives the statement for a contribution that leaves the section
    (a parameter, or a node computed outside the loop), or None to keep it in ``contrib``.
    ``names`` names the temporaries."""
    names = Registers() if names is None else names
    t = plan.trace
    printer = plan.printer
    for i in reversed(order):
        cs = contrib.pop(i, None)
        needed, info = plan.partial_needed[i], plan.info[i]
        if not cs or needed is None or info is None:
            continue
        adj, d = summed(f"_a{i}", cs, out, names)
        reads = sum(info.g_uses[k] for k in range(len(needed)) if needed[k])
        if (reads > 1 and d > 0) or d > _LIMIT:
            adj, d = names.assign(f"_a{i}", adj, names.of(adj), out), 0
        a = [expr[j] or "" for j in t.args[i]]
        value = expr[i] or ""
        der = ""
        if any(info.scaled[k] is None for k in range(len(needed)) if needed[k]):
            call = f"_der{id(t.ops[i])}(_FLOAT, {', '.join(a)}, {value})"
            der = names.assign(f"_d{i}", call, names.of(*a, value), out)
        env = info.env(a, value, adj)
        given: dict[int, list[Contribution]] = {}  # x * x gives x two contributions: one statement
        for k, j in enumerate(t.args[i]):
            if not needed[k]:
                continue
            p = info.scaled[k]
            if p is None:
                c, cd = f"({adj} * {der if len(a) == 1 else f'{der}[{k}]'})", d + 1
                names.note(c, names.of(adj, der))
            else:
                c, cd = printer.expr(p, env), d + info.scaled_height[k]
                read = [a[m] for m in range(len(a)) if info.partial_uses[k][m]]
                names.note(c, names.of(adj, *read, *([value] if info.reads_out[k] else [])))
            given.setdefault(j, []).append((c, cd))
        for j, js in given.items():
            c, cd = summed(f"_a{i}_{j}", js, out, names)
            statement = sink(j, c)
            if statement is not None:
                names.statement(names.of(c))
                out.append(statement)
            else:
                contrib.setdefault(j, []).append((c, cd))


def generate(trace: Trace, *, inline: bool = True) -> tuple[Callable[..., Any], str]:
    """``run(P, samples, count) -> (total, grads)``: forward and backward over a batch, and its source."""
    n = len(trace.kinds)
    plan = Plan(trace, PYTHON, backward=True, inline=inline)
    kinds, root = trace.kinds, trace.root
    args = ", ".join(f"x{k}" for k in range(trace.nargs))
    params = "".join(f"p{j}, " for j in range(trace.param_count))
    unpack = [f"    {params}= P"] if trace.param_count else []
    grads: set[int] = set()
    carried: set[int] = set()

    def sink_in_loop(j: int, c: str) -> str | None:
        if kinds[j] == PARAM:
            grads.add(int(trace.payload[j]))
            return f"g{trace.payload[j]} += {c}"
        if kinds[j] == OP and not plan.varying[j]:
            carried.add(j)
            return f"h{j} += {c}"
        return None

    def sink_after(j: int, c: str) -> str | None:
        if kinds[j] == PARAM:
            grads.add(int(trace.payload[j]))
            return f"g{trace.payload[j]} += {c}"
        return None

    before: list[str] = []
    expr: list[str | None] = plan.leaves(lambda j: f"p{j}", lambda k: f"x{k}")
    depth = [0] * n
    emit_forward(plan, plan.order(False), expr, depth, before)

    def loop_body(names: Registers) -> tuple[list[str], dict[int, list[Contribution]]]:
        """The statements for one sample; and what the nodes outside the loop received."""
        body: list[str] = []
        inner, inner_depth = list(expr), list(depth)
        emit_forward(plan, plan.order(True), inner, inner_depth, body, names)
        if plan.varying[root]:
            names.statement(names.of(inner[root] or ""))
            body.append(f"total += {inner[root]}")
        contrib: dict[int, list[Contribution]] = {}
        if plan.varying[root]:
            contrib[root] = [("1.0", 0)]
        elif plan.grad[root]:
            contrib[root] = [("count", 0)]
        emit_backward(plan, plan.order(True), inner, contrib, sink_in_loop, body, names)
        return body, contrib

    recorded = Registers(recording=True)
    loop_body(recorded)
    grads.clear()
    carried.clear()
    registers = Registers(recorded.last)
    body, contrib = loop_body(registers)
    for j in carried:
        contrib.setdefault(j, []).insert(0, (f"h{j}", 0))
    after: list[str] = []
    emit_backward(plan, plan.order(False), expr, contrib, sink_after, after)

    loop_vars = f"({args},)" if trace.nargs == 1 else (args or "_")
    before.append("total = 0.0" if plan.varying[root] else f"total = {expr[root]} * count")
    zeros = [f"g{j}" for j in sorted(grads)] + [f"h{j}" for j in sorted(carried)]
    before += [" = ".join(zeros[k : k + 64]) + " = 0.0" for k in range(0, len(zeros), 64)]
    result = ", ".join(f"g{j}" if j in grads else "0.0" for j in range(trace.param_count))
    # CPython numbers a function's locals in the order they first appear, and an access to one
    # numbered past 255 takes an extra instruction (EXTENDED_ARG): the loop's own names come
    # first, before the parameters (a 10% shorter loop on a 2-16-16-1 network).
    hot = [f"x{k}" for k in range(trace.nargs)] + [f"r{k}" for k in range(registers.made)]
    lines = [
        "def run(P, samples, count):",
        *(f"    {' = '.join(hot[k : k + 64])} = 0.0" for k in range(0, len(hot), 64)),
        *unpack,
        *(f"    {s}" for s in before),
        f"    for {loop_vars} in samples:",
        *(f"        {s}" for s in body or ["pass"]),
        *(f"    {s}" for s in after),
        f"    return total, [{result}]",
    ]

    return _define(lines, plan, "run")


def generate_value(trace: Trace) -> tuple[Callable[..., Any], str]:
    """``value(P, *sample) -> loss``: the forward pass alone, and its source."""
    n = len(trace.kinds)
    plan = Plan(trace, PYTHON, backward=False)
    expr: list[str | None] = plan.leaves(lambda j: f"p{j}", lambda k: f"x{k}")
    body: list[str] = []
    emit_forward(plan, [i for i in range(n) if plan.live[i] and trace.kinds[i] == OP], expr, [0] * n, body)
    args = "".join(f", x{k}" for k in range(trace.nargs))
    params = "".join(f"p{j}, " for j in range(trace.param_count))
    body.append(f"return {expr[trace.root]}")
    lines = [
        f"def value(P{args}):",
        *([f"    {params}= P"] if trace.param_count else []),
        *(f"    {s}" for s in body),
    ]
    return _define(lines, plan, "value")


def _define(lines: list[str], plan: Plan, name: str) -> tuple[Callable[..., Any], str]:
    source = "\n".join(lines) + "\n"
    names = namespace()
    names.update({name: replaying(fn) for name, fn in fallbacks(plan).items()})
    exec(builtins.compile(source, f"<microgrsucc.compile python {name}>", "exec"), names)  # our own code
    return names[name], source
