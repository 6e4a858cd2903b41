"""The numpy backend: the per-sample trace replayed on arrays holding the whole batch.

Each node that varies per sample is a column of shape (batch,), or a column of a block
(``layers.py``): a layer's dots are one matrix product, a unary op of a whole layer one
call. What does not vary is computed once, as Python floats, as in the python backend.
Gradients of the parameters are summed over the batch into one array.

Each op's code is its tree (``tree.derive``) written by ``NumpyPrinter``: every branch of
a ``Select`` is computed and ``where`` picks per sample. A ``Raise`` becomes a mask of the
samples whose path reaches it (``_guard``), and each math function notes the samples
where ``math``'s would raise (``_Checked``: a NaN from numbers, an infinity from finite
numbers), only on the branch the sample takes. Those samples, and only those, are run by
the eager engine afterwards, which raises its own error; NaN and infinity otherwise flow
through the arrays as through eager mode.
"""

from __future__ import annotations

import builtins
import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from microgrsucc import ops
from microgrsucc.compiler.layers import Block, find_blocks
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.python_code import (
    PYTHON,
    Contribution,
    PythonPrinter,
    Replay,
    emit_backward,
    emit_forward,
)
from microgrsucc.compiler.python_code import namespace as python_namespace
from microgrsucc.compiler.trace import INPUT, OP, PARAM, Trace
from microgrsucc.compiler.tree import (
    Binary,
    Call,
    Compare,
    Const,
    Node,
    Raise,
    Select,
    Symbol,
    Unary,
    children,
    rebuild,
    same,
    walk,
)
from microgrsucc.ops import Primitive

__all__ = ["NUMPY", "generate"]


# The samples where a table function may raise, found while the batch runs (one list per
# thread): the eager engine runs those samples afterwards and raises its own error, if any.
_suspects = threading.local()


def _suspect(bad: Any) -> None:
    """Note the samples flagged in ``bad`` (a column, a block, or one flag for the batch)."""
    bad = np.asarray(bad)
    if bad.ndim == 0:
        _suspects.found.append(None)  # the whole batch
    else:
        _suspects.found.append(bad.reshape(len(bad), -1).any(axis=1))


def _guard(failed: Any, value: Any) -> Any:
    """``value``, noting the samples where the table's domain check fails."""
    if np.any(failed):
        _suspect(np.broadcast_to(failed, np.shape(value)))
    return value


class _Checked:
    """numpy's ``f`` noting where math's would raise: a NaN from numbers (ValueError) or an
    infinity from finite numbers (OverflowError), as CPython's math module decides. ``on``
    notes only the samples in a mask (those that take the branch the call is in)."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f = f

    def __call__(self, *args: Any) -> Any:
        r = self.f(*args)
        if not math.isfinite(np.sum(r)):  # one pass; a finite sum has no inf or NaN in it
            _note(r, args, None)
        return r

    def on(self, where: Callable[[], Any], *args: Any) -> Any:
        r = self.f(*args)
        if not math.isfinite(np.sum(r)):
            _note(r, args, where)
        return r


def _note(r: Any, args: tuple[Any, ...], where: Callable[[], Any] | None) -> None:
    nan_in = functools.reduce(np.logical_or, [np.isnan(a) for a in args])  # arrays and floats
    finite_in = functools.reduce(np.logical_and, [np.isfinite(a) for a in args])
    bad = (np.isnan(r) & ~nan_in) | (np.isinf(r) & finite_in)
    if where is not None:
        bad = bad & where()
    if np.any(bad):
        _suspect(np.broadcast_to(bad, np.shape(r)))


_checked = _Checked


# math functions that never raise for a float: numpy's are called as they are.
_TOTAL = {"tanh", "atan", "erf", "erfc", "fabs", "copysign", "isfinite", "isnan", "isinf"}


def _vectorized(op: Primitive) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """An op without derived code, called per element: its forward and its derivative.

    Where the table's function raises, the element is NaN and its sample a suspect."""

    def forward1(*x: Any) -> Any:
        try:
            return op.forward(*x)
        except Exception:
            return None

    def derivative1(*x: Any) -> Any:
        try:
            return op.derivative(ops.FLOAT, *x)
        except Exception:
            return None if op.arity == 1 else (None,) * op.arity

    forward = np.frompyfunc(forward1, op.arity, 1)
    derivative = np.frompyfunc(derivative1, op.arity + 1, op.arity)

    def floats(x: Any) -> Any:
        failed = np.asarray(x == None)  # noqa: E711  (elementwise, on an object array)
        if np.any(failed):
            _suspect(failed)
            x = np.where(failed, math.nan, x)
        return np.asarray(x, dtype=float)

    def fwd(*a: Any) -> Any:
        return floats(forward(*a))

    def der(F: Any, *a: Any) -> Any:
        d = derivative(*a)
        return floats(d) if op.arity == 1 else tuple(floats(x) for x in d)

    return fwd, der


_X = Symbol("x")
# Branching trees numpy has one call for (matched on the tree, never on printed text):
# relu's slope (1 above 0, 0 at and below, NaN for NaN) and abs's (the sign, NaN for NaN).
_IDIOMS = (
    (Select(_X > 0.0, Const(1.0), Select(_X <= 0.0, Const(0.0), Const(math.nan))), "heaviside({}, 0.0)"),
    (
        Select(
            _X > 0.0,
            Const(1.0),
            Select(_X < 0.0, Const(-1.0), Select(_X == 0.0, Const(0.0), Const(math.nan))),
        ),
        "np.sign({})",
    ),
)


class NumpyPrinter(PythonPrinter):
    """Prints a tree as numpy code on whole columns: every branch of a Select is computed and
    ``where`` picks per sample; a ``Raise`` becomes a mask of the samples that reach it,
    which ``_guard`` notes for the eager engine, and the value is the tree without it."""

    into_branches = False

    def expr(self, n: Node, env: dict[str, str]) -> str:
        if not any(isinstance(m, Raise) for m in walk(n)):
            return self.value(n, env, [])
        mask = self.mask(_raising(n, []), env)
        value = _without_raise(n)
        shown = self.value(value, env, []) if value is not None else "nan"
        return f"_guard({mask}, {shown})"

    def value(self, n: Node, env: dict[str, str], path: Path) -> str:
        """``n`` as numpy code; ``path`` holds the conditions under which its value is used, so a
        function's check notes only the samples that take this branch."""
        if isinstance(n, Binary) and n.op == "**":
            return self.checked("_pow", [n.a, n.b], env, path)  # Python's ** raises on overflow
        if isinstance(n, (Binary, Compare)):
            return f"({self.value(n.a, env, path)} {n.op} {self.value(n.b, env, path)})"
        if isinstance(n, Call):
            if n.fn in _TOTAL or n.fn == "is_integer":
                return f"{self.function(n.fn)}({', '.join(self.value(a, env, path) for a in n.args)})"
            return self.checked(self.function(n.fn), list(n.args), env, path)
        if isinstance(n, Unary):
            a = self.value(n.a, env, path)
            return f"(-{a})" if n.op == "neg" else f"np.abs({a})"
        if isinstance(n, Select):
            for shape, code in _IDIOMS:
                if isinstance(n.cond, Compare) and same(n, _substituted(shape, n.cond.a)):
                    return code.format(self.value(n.cond.a, env, path))
            cond = self.value(n.cond, env, path)
            yes = self.value(n.yes, env, [*path, (n.cond, True)])
            no = self.value(n.no, env, [*path, (n.cond, False)])
            return f"where({cond}, {yes}, {no})"
        return super().expr(n, env)

    def checked(self, f: str, args: list[Node], env: dict[str, str], path: Path) -> str:
        shown = ", ".join(self.value(a, env, path) for a in args)
        if not path:
            return f"{f}({shown})"
        return f"{f}.on(lambda: {self.mask([path], env)}, {shown})"

    def function(self, name: str) -> str:
        return f"np_{name}"

    def mask(self, paths: list[Path], env: dict[str, str]) -> str:
        """The samples that take one of ``paths`` (each a list of conditions and their truth)."""
        terms = []
        for path in paths:
            tests = [
                self.value(c, env, []) if truth else f"np.logical_not({self.value(c, env, [])})"
                for c, truth in path
            ]
            terms.append(" & ".join(f"({t})" for t in tests) if tests else "True")
        return " | ".join(f"({t})" for t in terms)


Path = list[tuple[Node, bool]]


def _raising(n: Node, path: list[tuple[Node, bool]]) -> list[list[tuple[Node, bool]]]:
    """The paths (conditions and their truth) under which ``n`` reaches a ``Raise``."""
    if isinstance(n, Raise):
        return [path]
    if isinstance(n, Select):
        return _raising(n.yes, [*path, (n.cond, True)]) + _raising(n.no, [*path, (n.cond, False)])
    return [p for c in children(n) for p in _raising(c, path)]


def _without_raise(n: Node) -> Node | None:
    """``n`` with each branch that raises cut off (None if every path raises): its value on
    the samples that do not raise."""
    if isinstance(n, Raise):
        return None
    if isinstance(n, Select):
        yes, no = _without_raise(n.yes), _without_raise(n.no)
        if yes is None or no is None:
            return no if yes is None else yes
        return yes if same(yes, no) else Select(n.cond, yes, no)
    parts = [_without_raise(c) for c in children(n)]
    if any(p is None for p in parts):
        return None
    return rebuild(n, parts)  # type: ignore[arg-type]


def _substituted(shape: Node, x: Node) -> Node:
    """``shape`` with its symbol ``x`` replaced by the tree ``x``."""
    if isinstance(shape, Symbol):
        return x
    return rebuild(shape, [_substituted(c, x) for c in children(shape)])


NUMPY = NumpyPrinter()


def _numpy_function(name: str) -> Callable[..., Any]:
    """numpy's version of math's function ``name``: by the same name, or renamed (``asin`` is
    ``arcsin``), or where numpy has none or one that differs (``erf``, ``remainder``), math's
    own applied to each element."""
    if name == "is_integer":
        return lambda x: np.isfinite(x) & (np.floor(x) == x)
    if name in _ELEMENTWISE or not hasattr(np, _RENAMED.get(name, name)):
        return _elementwise(getattr(math, name))
    f: Callable[..., Any] = getattr(np, _RENAMED.get(name, name))
    return f if name in _TOTAL else _checked(f)


_RENAMED = {
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "acosh": "arccosh",
    "atanh": "arctanh", "atan2": "arctan2", "pow": "power",
}  # fmt: skip
# numpy's function of the same name computes something else: math's is applied per element.
_ELEMENTWISE = {"remainder", "gamma", "lgamma", "erf", "erfc", "factorial", "comb", "perm", "isqrt"}


def _elementwise(f: Callable[..., float]) -> Callable[..., Any]:
    """math's ``f`` on each element; where it raises, NaN, and the sample is a suspect."""

    def one(*x: Any) -> Any:
        try:
            return f(*x)
        except (ArithmeticError, ValueError):
            return None

    per_element: dict[int, Any] = {}  # by the number of arguments

    def call(*args: Any) -> Any:
        ufunc = per_element.get(len(args))
        if ufunc is None:
            ufunc = per_element[len(args)] = np.frompyfunc(one, len(args), 1)
        r = ufunc(*args)
        failed = np.asarray(r == None)  # noqa: E711  (elementwise, on an object array)
        if np.any(failed):
            _suspect(failed)
            r = np.where(failed, math.nan, r)
        return np.asarray(r, dtype=float)

    return call


def _namespace(plan: Plan) -> dict[str, Any]:
    names = python_namespace()  # the invariant part runs on Python floats
    called = {m.fn for info in plan.info if info is not None for m in _trees(info) if isinstance(m, Call)}
    names.update({f"np_{name}": _numpy_function(name) for name in called})
    names.update(_guard=_guard, _pow=_checked(np.power), np=np, where=np.where, heaviside=np.heaviside)
    names.update(inf=math.inf, nan=math.nan)
    for i, op in enumerate(plan.trace.ops):
        if op is not None and plan.live[i]:
            names[f"_fwd{id(op)}"], names[f"_der{id(op)}"] = _vectorized(op)
    return names


def _trees(info: Any) -> list[Node]:
    trees = [info.forward, *info.partials]
    return [m for t in trees if t is not None for m in walk(t)]


class _Emitter:
    def __init__(self, trace: Trace, matmul: bool) -> None:
        self.t = trace
        self.plan = Plan(trace, NUMPY, backward=True)
        self.scalar = Plan(trace, PYTHON, backward=True)
        self.blocks, self.absorbed = find_blocks(self.plan) if matmul else ([], set())
        self.block_of: dict[int, tuple[Block, int]] = {}
        for k, b in enumerate(self.blocks):
            b.name = "X" if b.kind == INPUT else f"B{k}"
            for col, m in enumerate(b.members):
                self.block_of[m] = (b, col)
        self.consts: dict[str, Any] = {}
        self.allocated: set[str] = set()

    def columns(self, key: tuple[int, ...]) -> str:
        """The batch of the nodes ``key`` as a (batch, len(key)) array expression."""
        first = self.block_of.get(key[0])
        if first is not None:
            b, s = first
            if all(self.block_of.get(m) == (b, s + i) for i, m in enumerate(key)):
                return b.name if s == 0 and len(key) == len(b.members) else f"{b.name}[:, {s}:{s + len(key)}]"
        return f"np.column_stack(({', '.join(self.expr[m] or '' for m in key)},))"

    def forward(self, out: list[str]) -> None:
        t, plan = self.t, self.plan
        n = len(t.kinds)
        self.expr: list[str | None] = [
            plan.leaf(i, lambda j: f"p{j}", lambda k: f"X[:, {k}]") for i in range(n)
        ]
        self.depth = [0] * n
        emit_forward(self.scalar, self.scalar.order(False), self.expr, self.depth, out)
        done: set[int] = set()
        for i in plan.order(True):
            if i in self.absorbed or i in done:
                continue
            found = self.block_of.get(i)
            if found is None:
                emit_forward(plan, [i], self.expr, self.depth, out)
                continue
            b = found[0]
            done.update(b.members)
            for col, m in enumerate(b.members):
                self.expr[m] = f"{b.name}[:, {col}]"
            if b.kind == "layer":
                self.consts[f"_W{b.name}"] = np.array(b.weights, dtype=np.intp)
                out.append(f"W{b.name} = PV[_W{b.name}]")
                if all(len(js) == 1 and t.kinds[js[0]] == PARAM for js in b.biases):  # one parameter each
                    self.consts[f"_b{b.name}"] = np.array(
                        [t.payload[js[0]] for js in b.biases], dtype=np.intp
                    )
                    bias = f"PV[_b{b.name}]"
                else:
                    sums = [" + ".join(self.expr[j] or "" for j in js) or "0.0" for js in b.biases]
                    bias = f"np.array([{', '.join(sums)}])"
                out.append(f"{b.name} = {self.columns(b.key)} @ W{b.name}.T")
                out.append(f"{b.name} += {bias}")  # in place: one pass over the batch less
            else:
                assert b.source is not None
                op = t.ops[b.members[0]]
                info = plan.info[b.members[0]]
                assert info is not None
                fwd = info.forward
                e = (
                    f"_fwd{id(op)}({b.source.name})"
                    if fwd is None
                    else NUMPY.expr(fwd, info.env([b.source.name]))
                )
                out.append(f"{b.name} = {e}")

    def add_to(self, name: str, index: str, value: str, out: list[str], like: str) -> None:
        """``name[index] += value``, allocating ``name`` (zeros like ``like``) on first use."""
        if name not in self.allocated:
            self.allocated.add(name)
            if index == "":
                out.append(f"{name} = {value}")
                return
            out.append(f"{name} = np.zeros_like({like})")
        out.append(f"{name}{index} += {value}")

    def backward(self, out: list[str], carried: set[int]) -> None:
        t, plan = self.t, self.plan
        contrib: dict[int, list[Contribution]] = {}
        if plan.varying[t.root]:
            contrib[t.root] = [("_ones", 0)]

        # A parameter's contributions are summed per sample first, in the order the eager
        # engine adds them, then over the batch: terms that cancel in a sample cancel here too.
        summed: list[int] = []

        def sink(j: int, c: str) -> str | None:
            if t.kinds[j] == PARAM:
                pj = int(t.payload[j])
                if pj not in summed:
                    summed.append(pj)
                    return f"gc{pj} = {c}"
                return f"gc{pj} = gc{pj} + {c}"
            if t.kinds[j] == OP and not plan.varying[j]:
                carried.add(j)
                return f"h{j} += np.sum({c})"
            found = self.block_of.get(j)
            if found is not None:
                b, col = found
                self.add_to(f"d{b.name}", f"[:, {col}]", c, statements, b.name)
                return "pass"
            return None

        for i in reversed(plan.order(True)):
            if i in self.absorbed:
                continue
            found = self.block_of.get(i)
            if found is None:
                statements: list[str] = []
                emit_backward(plan, [i], self.expr, contrib, sink, statements)
                out += statements
                continue
            b = found[0]
            if i != b.first or f"d{b.name}" not in self.allocated:
                continue
            d = f"d{b.name}"
            if b.kind == "map":
                assert b.source is not None
                if not plan.grad[b.source.members[0]]:
                    continue
                info = plan.info[i]
                assert info is not None
                partial = info.partials[0]
                target = f"d{b.source.name}"
                if partial is None:
                    op = t.ops[i]
                    out.append(f"_d{b.name} = _der{id(op)}(None, {b.source.name}, {b.name})")
                    e = f"({d} * _d{b.name})"
                elif isinstance(partial, Select) and not any(isinstance(m, Raise) for m in walk(partial)):
                    # The slope is a new array (where, heaviside): multiply it in place, not into
                    # another new array.
                    fresh = NUMPY.expr(partial, info.env([b.source.name], b.name))
                    if target not in self.allocated:
                        self.allocated.add(target)
                        out += [f"{target} = {fresh}", f"{target} *= {d}"]
                        continue
                    e = f"({d} * {fresh})"
                else:
                    scaled = info.scaled[0]
                    assert scaled is not None
                    e = NUMPY.expr(scaled, info.env([b.source.name], b.name, d))
                self.add_to(target, "", e, out, b.source.name)
            else:
                widx = f"_W{b.name}"
                unique = len(set(np.ravel(self.consts[widx]).tolist())) == self.consts[widx].size
                columns = self.columns(b.key)
                if unique:
                    out.append(f"G[{widx}] += {d}.T @ {columns}")
                else:
                    out.append(f"np.add.at(G, {widx}, {d}.T @ {columns})")
                sums = [
                    (int(t.payload[j]), col)
                    for col, js in enumerate(b.biases)
                    for j in js
                    if t.kinds[j] == PARAM
                ]
                if sums:
                    out.append(f"_s = _ones @ {d}")  # column sums, by BLAS
                    if len({pj for pj, _ in sums}) == len(sums):
                        self.consts[f"_bp{b.name}"] = np.array([pj for pj, _ in sums], dtype=np.intp)
                        self.consts[f"_bc{b.name}"] = np.array([col for _, col in sums], dtype=np.intp)
                        out.append(f"G[_bp{b.name}] += _s[_bc{b.name}]")
                    else:
                        out += [f"G[{pj}] += _s[{col}]" for pj, col in sums]
                if any(plan.grad[a] for a in b.key):
                    src = self.block_of.get(b.key[0])
                    whole = src is not None and columns == src[0].name
                    if whole and src is not None:
                        self.add_to(f"d{src[0].name}", "", f"{d} @ W{b.name}", out, src[0].name)
                    else:
                        out.append(f"_dA{b.name} = {d} @ W{b.name}")
                        for col, a in enumerate(b.key):
                            if plan.grad[a]:
                                found_a = self.block_of.get(a)
                                if found_a is not None:
                                    self.add_to(
                                        f"d{found_a[0].name}",
                                        f"[:, {found_a[1]}]",
                                        f"_dA{b.name}[:, {col}]",
                                        out,
                                        found_a[0].name,
                                    )
                                else:
                                    contrib.setdefault(a, []).append((f"_dA{b.name}[:, {col}]", 0))
        out += [f"G[{pj}] += np.sum(gc{pj})" for pj in summed]
        out[:] = [s for s in out if s != "pass"]
        self.contrib = contrib


def generate(trace: Trace, *, matmul: bool = True) -> tuple[Callable[..., Any], str]:
    """``run(P, samples, count) -> (total, grads)`` on numpy arrays, and its source."""
    e = _Emitter(trace, matmul)
    params = "".join(f"p{j}, " for j in range(trace.param_count))
    head = ["X = np.asarray(samples, dtype=float)", "_ones = np.ones(count)", "PV = np.array(P)"]
    head.append(f"G = np.zeros({trace.param_count})")
    forward: list[str] = []
    e.forward(forward)
    root = trace.root
    carried: set[int] = set()
    backward: list[str] = []
    e.backward(backward, carried)
    total = f"float(np.sum({e.expr[root]}))" if e.plan.varying[root] else f"{e.expr[root]} * count"
    contrib: dict[int, list[Contribution]] = {j: [(f"h{j}", 0)] for j in carried}
    if not e.plan.varying[root] and e.plan.grad[root]:
        contrib.setdefault(root, []).append(("count", 0))
    after: list[str] = []

    scalar_grads: set[int] = set()

    def sink(j: int, c: str) -> str | None:
        if trace.kinds[j] != PARAM:
            return None
        scalar_grads.add(int(trace.payload[j]))
        return f"g{trace.payload[j]} += {c}"  # Python floats: cheaper than items of G

    emit_backward(e.scalar, e.scalar.order(False), e.expr, contrib, sink, after)
    if scalar_grads:
        after = [f"g{j} = 0.0" for j in sorted(scalar_grads)] + after
        index = sorted(scalar_grads)
        e.consts["_GI"] = np.array(index, dtype=np.intp)
        after.append(f"G[_GI] += np.array([{', '.join(f'g{j}' for j in index)}])")
    lines = [
        "def run(P, samples, count):",
        *([f"    {params}= P"] if trace.param_count else []),
        *(f"    {s}" for s in head),
        *(f"    h{j} = 0.0" for j in sorted(carried)),
        *(f"    {s}" for s in forward),
        f"    total = {total}",
        *(f"    {s}" for s in backward),
        *(f"    {s}" for s in after),
        "    return total, G.tolist()",
    ]
    source = "\n".join(lines) + "\n"
    names = _namespace(e.plan)
    names.update(e.consts)
    exec(builtins.compile(source, "<microgrsucc.compile numpy>", "exec"), names)  # our own code
    run = names["run"]

    def checked(P: Any, samples: Any, count: int) -> Any:
        outer = getattr(_suspects, "found", None)
        found: list[Any] = []
        _suspects.found = found
        try:
            with np.errstate(all="ignore"):
                result = run(P, samples, count)
        finally:
            _suspects.found = outer
        if found:
            if any(f is None for f in found):
                raise Replay(None, None)
            raise Replay(np.flatnonzero(np.logical_or.reduce(found)).tolist(), result)
        return result

    return checked, source
