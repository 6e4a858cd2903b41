"""``microgrsucc.compile`` held to eager mode by a differential fuzzer.

Hypothesis draws a network-shaped loss (layers of sums of products feeding every op of
``ops.PRIMITIVES`` and a few custom ops; biases, shared and repeated parameters,
constants, parameter-only penalties, losses that are a parameter) and a batch of samples
of every type a user passes (float64, float32, int, uint8, bool; numpy arrays and tuples;
NaN, inf and the branch points of the ops). Both backends and both reductions must give
eager mode's numbers: the same loss built with Values per sample from the samples made
float64 (as ``Value`` converts its data), summed or averaged, then ``backward()``.

A drawn loss is Python source, so a failing example prints as a program to paste.
"""

from __future__ import annotations

import math
import operator
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import reduce
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import microgrsucc as mg
from microgrsucc import Value, ops
from microgrsucc.backward import below
from microgrsucc.functions import FUNCTIONS
from microgrsucc.ops import Primitive

BACKENDS = ("python", "numpy")
REDUCTIONS = ("mean", "sum")
REL = 1e-10  # the bound: value and gradients to rel 1e-10 of eager mode
# A few ulps of a local derivative's terms, in units of REL: the size below which a local
# derivative is compared as if it were that large (see sizes()).
DERIVATIVE_ULPS = 8 * sys.float_info.epsilon / REL
# A local derivative that moves by more than this (relative) when its operands move by a few
# ulps of their terms is decided by rounding, not by the loss: it is not compared (sizes()).
ILL_CONDITIONED = 1e-6

# --- custom ops the losses use beside the table ----------------------------------------------------
# Written the way users write them: forwards on floats that cannot run on symbols (math.*,
# branches), derivatives with F and F.value, a constant derivative, a domain error.


def _softplus(x: float) -> float:
    return x + math.log1p(math.exp(-x)) if x > 0.0 else math.log1p(math.exp(x))


def _leaky(x: float) -> float:
    return x if x > 0.0 else 0.01 * x


def _bounded(x: float) -> float:
    if x < -4.0:
        raise ValueError("the operand must be >= -4")
    return math.sqrt(x + 4.0)


CUSTOM: dict[str, mg.CustomOp] = {
    "softplus": mg.custom_op("smooth_relu", _softplus, lambda F, x, out: F.sigmoid(x)),
    "leaky": mg.custom_op("leaky", _leaky, lambda F, x, out: 1.0 if F.value(x) > 0.0 else 0.01),
    "twice": mg.custom_op("twice", lambda x: 2.0 * x, 2.0),
    "bounded": mg.custom_op("bounded", _bounded, lambda F, x, out: 0.5 / out),
    "cube": mg.custom_op("cube", lambda x: x**3, lambda F, x, out: 3.0 * x * x),
    "hypot": mg.custom_op(
        "hypot_of",
        lambda x, y: math.hypot(x, y),
        lambda F, x, y, out: (x / out, y / out) if F.value(out) != 0.0 else (0.0, 0.0),
    ),
    "fma": mg.custom_op("fma", lambda x, y, z: x * y + z, lambda F, x, y, z, out: (y, x, 1.0)),
}

# Exponents of x ** n with a constant n (ops.pow_const): integers, fractions, negatives, 0 and 1.
EXPONENTS = (2.0, 3.0, 0.5, 1.5, -1.0, -2.0, 0.0, 1.0, -0.5, 2.5)

# Weights and parameter values: moderate reals, plus the exact values that put a unit at a
# branch point (0 for relu/abs/sqrt, ±1, 2).
SPECIAL_WEIGHTS = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0)


def weights() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(SPECIAL_WEIGHTS), st.floats(-2.0, 2.0, allow_nan=False, width=64))


# --- a random loss, as Python source --------------------------------------------------------------


class Loss:
    """A loss drawn by ``losses()``: ``source`` defines ``p`` (the parameters) and ``loss``."""

    def __init__(
        self,
        nargs: int,
        values: list[float],
        source: str,
        uses_grad: bool,
        prebuilt: bool,
        features: set[str],
    ) -> None:
        self.nargs = nargs
        self.values = values  # the parameters' initial values
        self.source = source
        self.uses_grad = uses_grad  # grad/gradients inside: compile may refuse it at trace time
        self.prebuilt = prebuilt  # a penalty graph built before compile: stale once .data changes
        self.features = features

    def build(self) -> tuple[list[Value], Callable[..., Value]]:
        """Fresh parameters and the loss function (the source run in a namespace of its own)."""
        namespace: dict[str, Any] = {"mg": mg, "Value": Value, "ops": ops, "C": CUSTOM, "operator": operator}
        exec(compile(self.source, "<drawn loss>", "exec"), namespace)
        return namespace["p"], namespace["loss"]

    def __repr__(self) -> str:
        return f"\n# features: {', '.join(sorted(self.features))}\n{self.source}\n"


_SYNTAX = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "neg": "-"}


def _callable_plain(op: Primitive) -> bool:
    """Whether the function of ``op`` runs with its constants' defaults (clamp needs a bound)."""
    try:
        FUNCTIONS[op.name](*[0.5] * op.arity)
    except TypeError:
        return False
    except (ArithmeticError, ValueError):
        pass
    return True


def _literal(arg: str) -> bool:
    """Whether ``arg`` is a float in the source (a number or a parameter's .data)."""
    if arg.endswith(".data"):
        return True
    try:
        float(arg.strip("()"))
    except ValueError:
        return False
    return True


def spellings(op: Primitive, args: Sequence[str]) -> list[str]:
    """The ways a user writes ``op`` applied to ``args``: operator, function, method. Derived
    from the table, so an op added to it is spelled too."""
    out = []
    if op is ops.pow:
        out.append(f"({args[0]}) ** ({args[1]})")
    if op.operator:
        sym = _SYNTAX.get(op.operator)
        if sym and op.arity == 1:
            out.append(f"{sym}({args[0]})")
        elif sym and op.arity == 2:
            out.append(f"({args[0]}) {sym} ({args[1]})")
        elif op.operator == "abs":
            out.append(f"abs({args[0]})")
        else:
            out.append(f"operator.{op.operator}({', '.join(args)})")
    if op.name in FUNCTIONS and _callable_plain(op):
        out.append(f"mg.{op.name}({', '.join(args)})")
        if not _literal(args[0]):  # a float has no method of that name
            out.append(f"({args[0]}).{op.name}({', '.join(args[1:])})")
    if not out:  # no Python spelling: applied as a custom op of the table's entry
        out.append(f"mg.CustomOp(ops.PRIMITIVES[{op.name!r}])({', '.join(args)})")
    return out


class Builder:
    """Draws the lines of one loss: ``leaf``, ``term``, ``activation`` give source text.

    Choices that shape the loss are hypothesis draws (they shrink); the values of the many
    weights of a dense layer come from a seeded ``random.Random`` (one draw for them all),
    so a wide network costs a few draws, not thousands.
    """

    def __init__(self, draw: st.DrawFn, budget: int) -> None:
        self.draw = draw
        self.rng = random.Random(draw(st.integers(0, 2**32 - 1), label="seed of the weights"))
        self.values: list[float] = []  # the parameters' initial values
        self.shared = draw(st.integers(1, 6), label="parameters shared by the sparse units")
        for _ in range(self.shared):
            self.new_param()
        self.budget = budget  # products left to spend: keeps eager evaluation fast
        self.features: set[str] = set()
        self.uses_grad = False
        self.used: set[str] = set()  # the units some term reads

    def new_param(self) -> str:
        self.values.append(random_weight(self.rng))
        return f"p[{len(self.values) - 1}]"

    def param(self) -> str:
        """One of the first few parameters: shared between units, repeated within one."""
        return f"p[{self.draw(st.integers(0, self.shared - 1))}]"

    def constant(self) -> str:
        return repr(self.draw(weights()))

    def leaf(self) -> str:
        """A weight: a parameter (often shared), a constant, or a parameter's .data."""
        kind = self.draw(st.sampled_from(["param", "param", "param", "constant", "data"]))
        if kind == "data":
            self.features.add("reads .data")
            return f"{self.param()}.data"
        if kind == "constant":
            self.features.add("constant")
            return self.constant()
        return self.param()

    def source(self, sources: Sequence[str]) -> str:
        x = self.draw(st.sampled_from(sources))
        self.used.add(x)
        return x

    def term(self, sources: Sequence[str]) -> str:
        """A product: a weight times one or two sources, a source alone, or w * w * source."""
        self.budget -= 1
        x = self.source(sources)
        shape = self.draw(st.sampled_from(["w*x", "w*x", "w*x", "x", "w*x*y", "w*w*x", "x*w"]))
        if shape == "x":
            return x
        if shape == "x*w":
            return f"{x} * {self.leaf()}"
        if shape == "w*x*y":
            self.features.add("product of sources")
            return f"{self.leaf()} * {x} * {self.source(sources)}"
        if shape == "w*w*x":
            self.features.add("repeated parameter")
            w = self.param()
            return f"{w} * {w} * {x}"
        return f"{self.leaf()} * {x}"

    def total(self, terms: list[str]) -> str:
        if len(terms) > 1 and self.draw(st.booleans()):
            return f"sum([{', '.join(terms)}])"  # starts at 0: int 0 + Value
        return " + ".join(terms)

    def activation(self) -> Callable[[str], str]:
        """What a unit applies to its sum ``s``: an op of the table (any arity, ``s`` as any
        operand), x ** n, a custom op, or nothing; rarely grad inside, or a branch on .data."""
        kind = self.draw(st.sampled_from(["table", "table", "table", "table", "power", "custom", "none"]))
        # In about one loss in ten; not at 0 or 199, which hypothesis draws more often.
        rare = self.draw(st.integers(0, 199))
        if rare == 100:
            return self.inner_grad()
        if rare == 101:
            self.features.add("branch on .data")
            w = self.param()
            return lambda s: f"(mg.relu({s}) if {w}.data > 0 else mg.tanh({s}))"
        if kind == "none":
            return lambda s: f"({s})"
        if kind == "power":
            n = self.draw(st.sampled_from(EXPONENTS))
            self.features.add(f"x ** {n}")
            return lambda s: f"({s}) ** {n!r}"
        if kind == "custom":
            name = self.draw(st.sampled_from(sorted(CUSTOM)))
            self.features.add(f"custom {name}")
            arity = CUSTOM[name].primitive.arity
            return self.applied(lambda args: f"C[{name!r}]({', '.join(args)})", arity)
        op = self.draw(st.sampled_from(list(ops.PRIMITIVES.values())))
        self.features.add(f"op {op.name}")
        spelling = self.draw(st.integers(0, len(spellings(op, ["a"] * op.arity)) - 1))
        # A float literal first has no method spelling: fewer ways, so the draw wraps around.
        return self.applied(
            lambda args: (lambda ways: ways[spelling % len(ways)])(spellings(op, args)), op.arity
        )

    def applied(self, spell: Callable[[list[str]], str], arity: int) -> Callable[[str], str]:
        """``s`` as one operand of an op of ``arity``; weights for the others."""
        others = [self.leaf() for _ in range(arity - 1)]
        at = self.draw(st.integers(0, arity - 1))  # s as the second operand: w / s, w ** s
        return lambda s: spell([*others[:at], s, *others[at:]])

    def inner_grad(self) -> Callable[[str], str]:
        self.uses_grad = True
        self.features.add("grad inside")
        w = self.param()
        if self.draw(st.booleans()):
            return lambda s: f"mg.grad(lambda t: {w} * t * t)({s})"
        return lambda s: f"mg.gradients({w} * ({s}) * ({s}), [{w}], create_graph=True)[0]"

    def penalty(self) -> str:
        """A parameter-only term (an L2 penalty and such)."""
        self.features.add("penalty")
        chosen = self.draw(st.lists(st.integers(0, self.shared - 1), min_size=1, max_size=6))
        lam = self.draw(st.sampled_from([1e-4, 1e-3, 0.1, 1.0]))
        if self.draw(st.booleans()):
            return f"{lam!r} * sum(q * q for q in p)"
        return f"{lam!r} * ({' + '.join(f'p[{j}] * p[{j}]' for j in chosen)})"

    def sparse_layer(self, name: str, sources: list[str], max_width: int) -> list[str]:
        """A few units, each its own sum of random products and its own op."""
        lines = []
        width = max(1, min(self.draw(st.integers(1, min(max_width, 6))), self.budget))
        bias = self.draw(st.sampled_from(["none", "param", "constant"]))
        for k in range(width):
            fan_in = max(1, min(self.draw(st.integers(1, len(sources))), self.budget // (width - k)))
            terms = [self.term(sources) for _ in range(fan_in)]
            if bias == "param":
                self.features.add("bias")
                terms.append(self.param())
            elif bias == "constant":
                terms.append(self.constant())
            lines.append(f"{name}_{k} = {self.activation()(self.total(terms))}")
        return lines

    def dense_layer(self, name: str, sources: list[str], max_width: int) -> list[str]:
        """A layer of a network: every unit reads every source through a weight of its own,
        then the same op."""
        self.features.add("dense layer")
        fit = max(1, self.budget // len(sources))
        width = max(1, min(self.draw(st.integers(1, max_width)), fit))
        self.budget -= width * len(sources)
        bias = self.draw(st.sampled_from(["none", "own", "shared", "constant"]))
        shared_bias = self.param()
        act = self.activation()
        lines = []
        for k in range(width):
            terms = [f"{self.new_param()} * {x}" for x in sources]
            if bias == "own":
                terms.append(self.new_param())
            elif bias == "shared":
                terms.append(shared_bias)
            elif bias == "constant":
                terms.append(repr(random_weight(self.rng)))
            lines.append(f"{name}_{k} = {act(' + '.join(terms))}")
        self.used.update(sources)
        return lines


def random_weight(rng: random.Random) -> float:
    """A weight from ``rng``: often one of the exact values at a branch point."""
    if rng.random() < 0.25:
        return rng.choice(SPECIAL_WEIGHTS)
    return rng.uniform(-2.0, 2.0)


@st.composite
def losses(
    draw: st.DrawFn, max_depth: int = 6, max_width: int = 32, budget: int = 48, loop: int = 200
) -> Loss:
    """A network-shaped loss of 0 to 3 sample arguments (see the module docstring): about
    ``budget`` products, or a loop of up to ``loop`` terms."""
    nargs = draw(st.integers(0, 3))
    b = Builder(draw, budget)
    inputs = [f"x{i}" for i in range(nargs)]
    shape = draw(
        st.sampled_from(
            ["network"] * 12
            + ["param", "+param", "input", "penalty only", "constant", "wide sum", "deep chain"]
        )
    )
    if shape == "input" and not nargs:
        shape = "network"
    lines: list[str] = []
    outside: list[str] = []
    if shape == "network":
        sources = inputs + ([] if inputs else [b.param()])  # a loss without arguments is all parameter
        hidden: list[str] = []
        for depth in range(draw(st.integers(1, max_depth))):
            if b.budget <= 0:
                break
            layer = b.dense_layer if draw(st.booleans()) else b.sparse_layer
            new = layer(f"h{depth}", sources, max_width)
            lines += new
            sources = [line.split(" = ")[0] for line in new]
            hidden += sources
        # Mostly every unit reaches the loss, as in a dense network; else a unit nothing reads
        # must still raise eager mode's domain errors.
        weighted = draw(st.booleans())
        terms = [f"{b.leaf()} * {u}" if weighted else u for u in sources]
        unused = [u for u in hidden if u not in b.used and u not in sources]
        if unused and draw(st.sampled_from([True, True, True, False])):
            terms += unused
        elif unused:
            b.features.add("unused units")
        out = b.total(terms)
        extra = draw(st.sampled_from(["", "", "penalty", "prebuilt penalty", "constant"]))
        if extra == "penalty":
            out = f"{out} + {b.penalty()}"
        elif extra == "prebuilt penalty":
            outside.append(f"penalty = {b.penalty()}")
            out = f"{out} + penalty"
        elif extra == "constant":
            out = f"{out} + {b.constant()}"
        lines.append(f"return {out}")
    elif shape in ("wide sum", "deep chain"):
        # A loop in the loss: a sum of hundreds of terms, or a chain of hundreds of ops; the
        # generated code must not nest them into one expression.
        b.features.add(shape)
        count = draw(st.sampled_from([50, loop]))
        first = len(b.values)
        for _ in range(count):
            b.new_param()
        x = draw(st.sampled_from(inputs)) if inputs else "p[0]"
        act = b.activation()
        lines.append(f"h = {x}" if shape == "deep chain" else "h = 0.0")
        lines.append(f"for j in range({first}, {first + count}):")
        if shape == "deep chain":
            lines.append(f"    h = {act(f'p[j] * h + {b.constant()}')}")
        else:
            lines.append(f"    h = h + {act(f'p[j] * {x}')}")
        lines.append("return h")
    elif shape in ("param", "+param"):
        b.features.add("returns a parameter")
        lines.append(f"return {'+' if shape == '+param' else ''}{b.param()}")
    elif shape == "input":
        b.features.add("returns an argument")
        lines.append(f"return {draw(st.sampled_from(inputs))}")
    elif shape == "penalty only":
        lines.append(f"return {b.penalty()}")
    else:
        b.features.add("returns a constant")
        lines.append(f"return Value({b.constant()})")
    values = b.values
    source = "\n".join(
        [
            f"p = [{', '.join(f'Value({v!r})' for v in values)}]",
            *outside,
            f"def loss({', '.join(inputs)}):",
            *[f"    {line}" for line in lines],
        ]
    )
    return Loss(nargs, values, source, b.uses_grad, bool(outside), b.features)


# --- random samples --------------------------------------------------------------------------------

SPECIAL_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 3.0, math.nan, math.inf, -math.inf, 1e300, -1e300, 5e-324)
SPECIAL_INTS = (0, 1, -1, 2, -3, 2**53 + 1, 2**60 + 1, -(2**60), 10**400)


def to_float32(x: float) -> Any:
    with np.errstate(over="ignore"):  # 1e300 becomes inf, as intended
        return np.float32(x)


def elements(kind: str) -> st.SearchStrategy[Any]:
    """One argument of the type ``kind`` (a Python or numpy scalar)."""
    if kind == "float64":
        return st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(-5.0, 5.0)).map(float)
    if kind == "float32":
        finite = st.floats(-5.0, 5.0, width=32)
        return st.one_of(st.sampled_from(SPECIAL_FLOATS), finite).map(to_float32)
    if kind == "int":
        return st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(-100, 100))
    if kind == "uint8":
        return st.one_of(st.sampled_from([0, 1, 2, 255]), st.integers(0, 255)).map(np.uint8)
    if kind == "bool":
        return st.booleans()
    assert kind == "other"  # real numbers of other types, and things that are not real numbers
    return st.sampled_from([Fraction(1, 3), Decimal("0.1"), np.float16(0.5), np.int8(-3), 1j, None, "2.0"])


def ordinary(kind: str, rng: random.Random) -> Any:
    """An unremarkable argument of the type ``kind``."""
    x = rng.uniform(-2.0, 2.0)
    return {
        "float64": x,
        "float32": np.float32(x),
        "int": round(x),
        "uint8": np.uint8(abs(round(x))),
        "bool": x > 0,
        "other": Fraction(round(x * 8), 8),
    }[kind]


class Samples:
    """A batch as passed to ``backward``, and each sample as passed to ``step(*sample)``."""

    def __init__(self, batch: Any, rows: list[tuple[Any, ...]], description: str, once: bool = False) -> None:
        self.batch = batch
        self.rows = rows
        self.description = description
        self.once = once  # passed as an iterator, which one call uses up

    def make(self) -> Any:
        """The batch for one ``backward`` call."""
        return iter(self.batch) if self.once else self.batch

    def __repr__(self) -> str:
        shown = f"iter({self.batch!r})" if self.once else repr(self.batch)
        return f"\n# samples: {self.description}\nbatch = {shown}\n"


KINDS = ("float64", "float32", "int", "uint8", "bool", "other")


@st.composite
def samples(draw: st.DrawFn, nargs: int, max_samples: int = 4, more: int = 12) -> Samples:
    """1 to ``max_samples`` samples of ``nargs`` arguments: an array of one dtype, or a list of
    tuples of Python numbers, numpy scalars or a mix of them; now and then ``more`` ordinary
    samples around them."""
    n = draw(st.integers(1, max_samples))
    more = draw(st.sampled_from([0] * 9 + [more]), label="ordinary samples added")
    container = draw(st.sampled_from(["array", "tuples", "tuples", "mixed tuples", "lists", "iterator"]))
    kind = draw(st.sampled_from(KINDS)) if nargs else "float64"  # no arguments: no dtype to convert
    if container == "mixed tuples":
        kinds = [draw(st.sampled_from(KINDS)) for _ in range(nargs)]
    else:
        kinds = [kind] * nargs
    rows = [tuple(draw(elements(k)) for k in kinds) for _ in range(n)]
    if more:
        rng = random.Random(draw(st.integers(0, 2**32 - 1), label="seed of the ordinary samples"))
        extra = [tuple(ordinary(k, rng) for k in kinds) for _ in range(more)]
        rows = extra[: more // 2] + rows + extra[more // 2 :]
        n += more
    if container == "array":
        if kind == "int":  # an int64 array: Python ints past int64 stay in the tuples
            rows = [tuple(x if -(2**63) <= x < 2**63 else 7 for x in row) for row in rows]
        if kind == "other":  # an array of a real dtype with no Python type
            rows = [tuple(x if isinstance(x, np.float16) else np.float16(1.5) for x in row) for row in rows]
        dtype = {"float64": np.float64, "float32": np.float32, "int": np.int64, "other": np.float16}.get(
            kind, kind
        )
        batch: Any = np.array(rows, dtype=dtype).reshape(n, nargs)
        return Samples(batch, [tuple(row) for row in batch], f"array of {batch.dtype}")
    if container == "tuples" and kind in ("float64", "int", "bool"):
        rows = [tuple(x.item() if isinstance(x, np.generic) else x for x in row) for row in rows]
    batch = [list(row) for row in rows] if container == "lists" else rows
    shown = f"{container} of {'/'.join(sorted(set(kinds))) or 'nothing'}"
    return Samples(batch, rows, shown, once=container == "iterator")


# --- eager mode, the reference ---------------------------------------------------------------------


@dataclass
class Outcome:
    """A result: the total and the gradients, or the exception type raised."""

    total: float = math.nan
    grads: list[float] = field(default_factory=list)
    error: type[BaseException] | None = None
    message: str = ""
    # Samples that cannot become floats: eager mode building sample after sample meets an
    # earlier sample's domain error first; compiled code may raise either.
    or_error: type[BaseException] | None = None
    scale: float = 0.0  # the size of what was summed into the total
    grad_scales: list[float] = field(default_factory=list)

    def __repr__(self) -> str:
        if self.error is not None:
            return f"raises {self.error.__name__}: {self.message}"
        return f"{self.total!r}, grads {self.grads!r}" if self.grads else repr(self.total)


def as_float(g: Any) -> float:
    """A ``.grad`` as a number: None (no gradient yet) is 0."""
    return 0.0 if g is None else g


def converted(rows: Sequence[Sequence[Any]]) -> list[tuple[float, ...]]:
    """The samples made float64 as ``Value`` converts its data (bool, 10**400 raise)."""
    return [tuple(Value(x).data for x in row) for row in rows]


def eager_outcome(
    sample_loss: Callable[..., Value],
    params: list[Value],
    rows: Sequence[Sequence[Any]],
    reduction: str,
    initial: list[float] | None,
    *,
    measure: bool = True,
    jumps: bool = False,
) -> Outcome:
    """The batch's total and ``.grad`` of ``params`` after ``backward()`` in eager mode, from
    the gradients ``initial`` (None: after ``zero_grad``); ``.grad`` is restored after. With
    ``measure`` the sizes of what was summed are measured too (``sizes``); with ``jumps`` the
    example is rejected if an op sits at a jump (``at_a_jump``)."""
    saved = [p.grad for p in params]
    try:
        floats = converted(rows)
    except Exception as err:
        return Outcome(error=type(err), message=str(err), or_error=first_error(sample_loss, rows))
    try:
        per_sample = [sample_loss(*[Value(x) for x in row]) for row in floats]
        total = reduce(operator.add, per_sample)
        if reduction == "mean":
            total = total / len(per_sample)
        start(params, initial)
        total.backward()
        grads = [as_float(p.grad) for p in params]
        scale, reach = sizes(total) if measure else (0.0, {})
        jumped = jumps and at_a_jump(total)
        before = [abs(g) for g in initial] if initial else [0.0] * len(params)
        outcome = Outcome(
            total.data,
            grads,
            scale=scale,
            grad_scales=[reach.get(p, 0.0) + g0 for p, g0 in zip(params, before, strict=True)],
        )
    except Exception as err:  # the reference's error: compiled code must raise the same type
        return Outcome(error=type(err), message=str(err))
    finally:
        for p, g in zip(params, saved, strict=True):
            p.grad = g
    if jumped:
        reject()  # which side of a jump another summation order lands on is not the loss's to say
    return outcome


def at_a_jump(root: Value) -> bool:
    """Whether an op's forward jumps (fmod at a multiple of its divisor) when an operand moves
    by a few ulps of its terms: there numpy's matrix products, which sum in their own order,
    may land on the other side, and no tolerance says which side is right."""
    terms: dict[Value, float] = {}
    for node in reversed(mg.backward_order(root)):
        op = node.primitive
        assert op is not None
        data = [x.data for x in node.inputs]
        partials = op.derivative if op.constant else op.derivative(ops.FLOAT, *data, node.data)
        if op.arity == 1:
            partials = (partials,)
        ds = [abs(float(d.data if isinstance(d, Value) else d)) for d in partials]
        operand_terms = [terms.get(x, abs(x.data)) for x in node.inputs]
        size = sum(d * t for d, t in zip(ds, operand_terms, strict=True) if math.isfinite(d * t))
        terms[node] = max(abs(node.data), size) if math.isfinite(node.data) else 0.0
        if op.constant or not math.isfinite(node.data):
            continue
        for k, (x, t) in enumerate(zip(data, operand_terms, strict=True)):
            step = 4 * sys.float_info.epsilon * t
            if not (math.isfinite(x) and math.isfinite(step)) or step == 0.0:
                continue
            for nudged in (x - step, x + step):
                try:
                    moved = abs(op.forward(*data[:k], nudged, *data[k + 1 :]) - node.data)
                except (ArithmeticError, ValueError):
                    continue
                expected = (ds[k] if math.isfinite(ds[k]) else 0.0) * step
                if moved > 1e6 * (expected + sys.float_info.epsilon * abs(node.data)) + 1e-300:
                    return True
    return False


def sizes(root: Value) -> tuple[float, dict[Value, float]]:
    """How large the rounding errors of another evaluation order can be: for the value, the
    sum over the nodes of their size times |d root / d node| summed along every path without
    signs; for each leaf, that unsigned sum of its paths' products (the terms that cancel
    into its gradient). A gradient that cancels to 1e-17 is compared at this scale.

    A node's size is the larger of |node| and its terms' (``terms``: what a sum that cancels
    was made of). A local derivative counts at its own size, at a few ulps of the terms it is
    computed from (``DERIVATIVE_ULPS``), and at how far it moves when its operands move by a
    few ulps of their terms, in units of REL (``spread``): another evaluation order puts an
    operand there (numpy's matrix products sum in their own order), and sin of 1e300 has no
    slope two orders agree on."""
    order = mg.backward_order(root)
    terms: dict[Value, float] = {}
    local: dict[Value, tuple[float, ...]] = {}
    lost: dict[Value, tuple[bool, ...]] = {}
    for node in reversed(order):  # operands first
        op = node.primitive
        assert op is not None
        inputs = node.inputs
        data = [x.data for x in inputs]
        partials = op.derivative if op.constant else op.derivative(ops.FLOAT, *data, node.data)
        if op.arity == 1:
            partials = (partials,)
        ds = [float(d.data if isinstance(d, Value) else d) for d in partials]
        operand_terms = [terms.get(x, abs(x.data)) for x in inputs]
        size = sum(abs(d) * t for d, t in zip(ds, operand_terms, strict=True) if math.isfinite(d * t))
        terms[node] = max(abs(node.data), size) if math.isfinite(node.data) else 0.0
        # A local derivative is itself computed from terms of about the node's size, or 1
        # (1 - out * out for tanh): a last-bit difference there (numpy's tanh is not math's)
        # is a few ulps of those terms, however small the derivative they cancel into.
        floor = 0.0 if op.constant else DERIVATIVE_ULPS * max(1.0, abs(node.data))
        moved = [0.0] * len(ds) if op.constant else spread(op, data, operand_terms, ds)
        local[node] = tuple(
            # Moved by more than a millionth: no order of evaluation decides this slope (cos of
            # 1e60), and what flows through it is not compared (an infinite size).
            math.inf if m > ILL_CONDITIONED * max(abs(d), 1.0) else max(abs(d), floor, m / REL)
            for d, m in zip(ds, moved, strict=True)
        )
        lost[node] = tuple(m > ILL_CONDITIONED * max(abs(d), 1.0) for d, m in zip(ds, moved, strict=True))
    reach: dict[Value, float] = {root: 1.0}
    scale = 0.0
    for node in order:
        adjoint = reach.get(node, 0.0)
        scale += 0.0 if terms[node] == 0.0 else adjoint * terms[node]
        for x, size, undecided in zip(node.inputs, local[node], lost[node], strict=True):
            if undecided:
                reach[x] = math.inf
            elif math.isfinite(size):  # an infinite slope: eager's infinity is compared exactly
                reach[x] = reach.get(x, 0.0) + (0.0 if size == 0.0 else adjoint * size)
    return scale, reach


def spread(op: Primitive, data: list[float], operand_terms: list[float], ds: list[float]) -> list[float]:
    """How far each local derivative of ``op`` at ``data`` moves when one operand moves by 4
    ulps of its terms (the most; 0 where it stays finite and defined nowhere else)."""
    moved = [0.0] * len(ds)
    for k, (x, t) in enumerate(zip(data, operand_terms, strict=True)):
        step = 4 * sys.float_info.epsilon * t
        if not (math.isfinite(x) and math.isfinite(step)) or step == 0.0:
            continue
        for nudged in (x - step, x + step):
            args = [*data[:k], nudged, *data[k + 1 :]]
            try:
                partials = op.derivative(ops.FLOAT, *args, op.forward(*args))
            except (ArithmeticError, ValueError):
                continue  # past a domain edge: eager mode's own error there is compared elsewhere
            if op.arity == 1:
                partials = (partials,)
            for j, (d, d0) in enumerate(zip(partials, ds, strict=True)):
                change = abs(float(d) - d0)
                if math.isfinite(change):
                    moved[j] = max(moved[j], change)
    return moved


def first_error(sample_loss: Callable[..., Value], rows: Sequence[Sequence[Any]]) -> type[BaseException]:
    """The error eager mode meets building the samples' graphs one after the other."""
    for row in rows:
        try:
            sample_loss(*[Value(x) for x in row])
        except Exception as err:
            return type(err)
    raise AssertionError("some sample cannot become floats")


def start(params: list[Value], initial: list[float] | None) -> None:
    """Gradients before a backward(): zero_grad's (0.0 or None), or ``initial``."""
    if initial is None:
        mg.zero_grad(params)
    else:
        for p, g in zip(params, initial, strict=True):
            p.grad = g


def eager_value(sample_loss: Callable[..., Value], row: Sequence[Any]) -> Outcome:
    try:
        return Outcome(sample_loss(*[Value(x) for x in converted([row])[0]]).data)
    except Exception as err:
        return Outcome(error=type(err), message=str(err))


# --- running compiled code and comparing -----------------------------------------------------------


def compiled_outcome(
    step: mg.compiler.CompiledLoss, batch: Any, reduction: str, initial: list[float] | None
) -> Outcome:
    params = step.params
    start(params, initial)
    before = [p.grad for p in params]
    try:
        total = step.backward(batch, reduction=reduction)
    except Exception as err:
        after = [p.grad for p in params]
        message = str(err)
        if after != before:
            message += f" (and the gradients changed: {before} -> {after})"
        return Outcome(error=type(err), message=message)
    return Outcome(total, [as_float(p.grad) for p in params])


def compiled_value(step: mg.compiler.CompiledLoss, row: Sequence[Any]) -> Outcome:
    try:
        return Outcome(step(*row))
    except Exception as err:
        return Outcome(error=type(err), message=str(err))


def agrees(got: float, want: float, scale: float) -> bool:
    """NaN where eager gives NaN, the same infinity, else within ``REL`` of eager's number
    (relative to the larger of it and ``scale``, the size of what was summed into it)."""
    if math.isnan(want):
        return math.isnan(got)
    if math.isinf(want):
        return got == want
    return isinstance(got, float) and abs(got - want) <= REL * max(abs(want), scale)


def differences(got: Outcome, want: Outcome, refusal_ok: bool) -> list[str]:
    """What differs between a compiled outcome and eager's; empty when they agree."""
    if want.error is not None or got.error is not None:
        if got.error is want.error or (want.or_error and got.error is want.or_error):
            return [] if "gradients changed" not in got.message else [f"after the error: {got.message}"]
        if refusal_ok and got.error is TypeError and "grad" in got.message:
            return []  # grad inside a compiled loss may be refused at trace time (issue 15)
        return [f"eager {want!r}; compiled {got!r}"]
    found = []
    if type(got.total) is not float:
        found.append(f"total is a {type(got.total).__name__}, not a float")
    if not agrees(got.total, want.total, want.scale):
        found.append(f"total: eager {want.total!r}, compiled {got.total!r}")
    for j, (g, w) in enumerate(zip(got.grads, want.grads, strict=True)):
        if type(g) is not float:
            found.append(f"p[{j}].grad is a {type(g).__name__}, not a float")
        scale = want.grad_scales[j] if want.grad_scales else 0.0
        if not agrees(float(g), w, scale):
            found.append(f"p[{j}].grad: eager {w!r}, compiled {g!r}")
    return found


@contextmanager
def counting_fallbacks() -> Iterator[list[int]]:
    """The number of samples in each batch the compiled code hands to the eager engine (when
    there is one): only samples for which a table function raises may go there."""
    count: list[int] = []
    module = getattr(mg.compiler, "eager", None)
    original = getattr(module, "replay", None)
    if original is None:
        yield count
        return

    def counted(trace: Any, params: Any, samples: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        count.append(len(samples))
        return original(trace, params, samples, *args, **kwargs)

    module.replay = counted  # type: ignore[union-attr]
    try:
        yield count
    finally:
        module.replay = original  # type: ignore[union-attr]


def c_cbrt() -> Callable[[Value], Value]:
    """A custom op whose forward calls C (libm's cbrt through ctypes): no Python with math, so
    the numba and jax backends have no code for it and must name it."""
    import ctypes.util

    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    libm.cbrt.restype, libm.cbrt.argtypes = ctypes.c_double, [ctypes.c_double]
    return mg.custom_op("cbrt_c", lambda x: libm.cbrt(x), lambda F, x, out: 1.0 / (3.0 * out * out))


def check_array_parameters(generate: Callable[..., Any]) -> None:
    """The step a backend's ``generate`` writes, given the parameters as a read-only float64
    array (as an optimizer's parameter vector is): eager mode's total and gradients (a float64
    array), the array untouched, and the L2 penalty over every parameter one call."""
    from microgrsucc.compiler.tracing import trace
    from microgrsucc.nn import MLP

    model = MLP(2, [5, 3, 1], seed=4)
    params = model.parameters()

    def loss(a: Any, b: Any) -> Any:
        return (1 - b * model([a, b])).relu() + 1e-3 * sum(p * p for p in params)

    rows = [(math.sin(k), math.cos(3 * k)) for k in range(23)]
    mg.zero_grad(params)
    total = sum((loss(Value(a), Value(b)) for a, b in rows), Value(0.0))
    total.backward()
    P = np.array([p.data for p in params])
    P.flags.writeable = False
    run, source = generate(trace(loss, params, 2))
    got, grads = run(P, np.array(rows), len(rows))
    assert source.count("_squares(") == 1 and source.count("_square_grads(") == 1
    assert math.isclose(got, total.data, rel_tol=1e-12)
    assert isinstance(grads, np.ndarray) and grads.dtype == np.float64
    for p, g in zip(params, grads.tolist(), strict=True):
        assert math.isclose(g, p.grad or 0.0, rel_tol=1e-9, abs_tol=1e-15), (p, g)
    assert P.tolist() == [p.data for p in params]


def meets_a_subnormal(sample_loss: Callable[..., Value], rows: Sequence[Sequence[Any]]) -> bool:
    """Whether eager mode's graph of any sample holds a subnormal number (below 2.2e-308 in
    magnitude, not 0), as a value or a gradient: XLA on a CPU counts those as 0, the jax
    backend's documented limit (docs/compile.md), so jax's result there is not compared."""
    try:
        floats = converted(rows)
    except Exception:
        return False
    for row in floats:
        if any(0.0 < abs(x) < sys.float_info.min for x in row):
            return True
        try:
            root = sample_loss(*[Value(x) for x in row])
            nodes = below(root)
            saved = [(v, v.grad) for v in nodes]
            try:
                root.backward()
                numbers = [v.data for v in nodes] + [as_float(v.grad) for v in nodes]
            finally:
                for v, g in saved:
                    v.grad = g
        except Exception:
            continue
        if any(isinstance(x, float) and 0.0 < abs(x) < sys.float_info.min for x in numbers):
            return True
    return False


class Session:
    """One drawn loss compiled for each of ``backends``, each call compared with eager mode's;
    the differences pile up in ``mismatches``."""

    def __init__(
        self, loss: Loss, batch: Samples, passed: list[bool], backends: Sequence[str] = BACKENDS
    ) -> None:
        every, self.sample_loss = loss.build()
        self.every = every
        # The parameters given to compile; the others are constants to it (and not changed).
        self.params = [p for p, keep in zip(every, passed, strict=True) if keep]
        self.loss = loss
        self.batch = batch
        self.steps = {b: mg.compile(self.sample_loss, self.params, backend=b) for b in backends}
        self.mismatches: list[str] = []
        self.refused: set[str] = set()  # backends that refused grad inside at trace time

    def generate(self) -> None:
        """The generated code of each backend: no error but eager mode's own."""
        for backend, step in self.steps.items():
            try:
                step.source(self.loss.nargs)
            except Exception as err:
                if self.loss.uses_grad and isinstance(err, TypeError) and "grad" in str(err):
                    self.refused.add(backend)  # as the issue allows
                elif backend == "numba" and isinstance(err, TypeError) and "too long for numba" in str(err):
                    self.refused.add(backend)  # numba's documented limit (tests/test_numba_code.py)
                elif not isinstance(err, (ArithmeticError, ValueError)):
                    # A domain error of a parameter-only term is raised while tracing, as
                    # eager mode raises it (the calls compare them); anything else is a bug.
                    self.mismatches.append(f"{backend}: generating code raised {type(err).__name__}: {err}")

    def settled(self, outcome: Callable[[], Outcome], want: Outcome) -> None:
        """Rejects the example if eager mode's own outcome changes when every parameter moves
        by 4 ulps (each its own way): then which error, or which side of a jump, depends on
        rounding (a log after an fmod of 1e60), and another summation order (numpy's matrix
        products) may land elsewhere with nothing wrong."""
        saved = [p.data for p in self.every]
        for sign in (1.0, -1.0):
            for k, p in enumerate(self.every):
                p.data = saved[k] * (1.0 + (sign if k % 2 else -sign) * 4 * sys.float_info.epsilon)
            try:
                moved = outcome()
            finally:
                for p, x in zip(self.every, saved, strict=True):
                    p.data = x
            if differences(moved, want, self.loss.uses_grad):
                reject()

    def backward(self, reduction: str, initial: list[float] | None, when: str) -> None:
        rows = self.batch.rows
        want = eager_outcome(self.sample_loss, self.params, rows, reduction, initial)
        found: list[str] = []
        for backend, step in self.steps.items():
            if backend in self.refused:
                continue
            with counting_fallbacks() as fallbacks:
                got = compiled_outcome(step, self.batch.make(), reduction, initial)
            call = f"{backend}, backward(reduction={reduction!r}){when}"
            found += [f"{call}: {d}" for d in differences(got, want, self.loss.uses_grad)]
            if fallbacks and want.error is None and "detect_anomaly" not in when:
                found.append(
                    f"{call}: {' and '.join(map(str, fallbacks))} of {len(self.batch.rows)} sample(s) "
                    f"handed to the eager engine though eager mode raises nothing (eager {want!r})"
                )
        if found and "jax" in self.steps and meets_a_subnormal(self.sample_loss, rows):
            reject()  # XLA flushes subnormals to 0 (docs/compile.md): not jax's to match
        if found:  # a difference: first, is eager mode's own outcome decided by rounding?
            eager_outcome(self.sample_loss, self.params, rows, reduction, initial, jumps=True)
            self.settled(
                lambda: eager_outcome(self.sample_loss, self.params, rows, reduction, initial, measure=False),
                want,
            )
        self.mismatches += found

    def value(self, k: int, when: str) -> None:
        want = eager_value(self.sample_loss, self.batch.rows[k])
        found: list[str] = []
        for backend, step in self.steps.items():
            if backend not in self.refused:
                got = compiled_value(step, self.batch.rows[k])
                call = f"{backend}, step(*sample {k}){when}"
                found += [f"{call}: {d}" for d in differences(got, want, self.loss.uses_grad)]
        if found and "jax" in self.steps and meets_a_subnormal(self.sample_loss, self.batch.rows[k : k + 1]):
            reject()  # XLA flushes subnormals to 0 (docs/compile.md): not jax's to match
        if found:
            self.settled(lambda: eager_value(self.sample_loss, self.batch.rows[k]), want)
        self.mismatches += found


def compare(loss: Loss, batch: Samples, data: st.DataObject, backends: Sequence[str] = BACKENDS) -> None:
    """The backends, both reductions and ``step(*sample)`` against eager mode, in the ways a
    training loop calls them: first inside ``no_grad()``, with gradients already there, after
    the parameters' ``.data`` changed, under ``detect_anomaly()``. Every difference is
    collected, then reported."""
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed of the calls"))
    subset = data.draw(st.sampled_from([False] * 4 + [True]), label="compile for some parameters only")
    passed = [not subset or rng.random() < 0.6 for _ in range(len(loss.values))]
    session = Session(loss, batch, passed, backends)
    session.generate()
    if data.draw(st.booleans(), label="first call inside no_grad"):
        with mg.no_grad():
            session.value(0, " inside no_grad()")
    accumulate = data.draw(st.booleans(), label="gradients already there")
    initial = [random_weight(rng) for _ in session.params] if accumulate else None
    # A penalty graph built before compile keeps the old values in eager mode too.
    rounds = 2 if not loss.prebuilt and data.draw(st.booleans(), label="change .data between calls") else 1
    for r in range(rounds):
        if r == 1:  # as an optimizer step does, without telling compile
            for p in session.params:
                if rng.random() < 0.5:
                    p.data = random_weight(rng)
        when = "" if r == 0 else " after .data changed"
        for reduction in REDUCTIONS:
            session.backward(reduction, initial, when)
        for k in range(min(2, len(batch.rows))):
            session.value(k, when)
    if data.draw(st.sampled_from([False] * 4 + [True]), label="under detect_anomaly()"):
        with mg.detect_anomaly():
            session.backward("mean", initial, " under detect_anomaly()")
    assert not session.mismatches, "\n".join(session.mismatches)


def check(loss: Loss, data: st.DataObject, more: int = 12, backends: Sequence[str] = BACKENDS) -> None:
    """A drawn batch for ``loss``, every call of each of ``backends`` compared with eager mode
    (the backends of optional extras have tests of their own that call this)."""
    compare(loss, data.draw(samples(loss.nargs, more=more), label="samples"), data, backends)


# 50 examples in the default run, whatever the profile (the suite's 60 s of CPU: they took 3-5
# s of it at 100); small losses and batches. The slow run has the thousands.
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(loss=losses(budget=32), data=st.data())
def test_compiled_losses_give_eager_results(loss: Loss, data: st.DataObject) -> None:
    check(loss, data)


@pytest.mark.slow
# 2,000 examples of losses five times larger: about 0.2 s each.
@settings(parent=settings.get_profile("thorough"), max_examples=2000, suppress_health_check=list(HealthCheck))
@given(loss=losses(budget=160, loop=1000), data=st.data())
def test_thousands_of_compiled_losses_give_eager_results(loss: Loss, data: st.DataObject) -> None:
    check(loss, data, more=60)


# --- networks at the sizes users grow them to --------------------------------------------------------
# nn.MLP of widths up to 128, batches across numba's tile (64) and numpy's chunk (2,048), the
# samples in every layout a user passes, a tail of scalar ops after the network, and the
# parameters changed between calls in each way a training loop changes them.

TAILS: dict[str, Callable[[Value, Any, Any, Value], Value]] = {
    "hinge": lambda out, x, y, w: (1 - y * out).relu(),
    "square": lambda out, x, y, w: (out - y) ** 2,
    "abs and atan2": lambda out, x, y, w: abs(out - y) + mg.atan2(out, y),
    "a power of the sample": lambda out, x, y, w: (out * out + 0.5) ** y,
    "maximum with a weight": lambda out, x, y, w: mg.maximum(out, w * x) - y * out,
    "a weight beside the net": lambda out, x, y, w: (out + w * x).tanh() * y + w * w,
}
LAYOUTS = ("array", "float32", "fortran", "strided", "ints", "lists", "tuples")
CHANGES = ("p.data =", "load_state_dict", "an Adam step", "a FlatParameter's array")


@dataclass
class Network:
    """A drawn ``nn.MLP`` problem: the network, its per-sample loss, a batch and the changes
    made to the parameters between calls."""

    nin: int
    widths: list[int]
    activation: str
    bias: bool
    tail: str
    penalty: bool
    count: int
    layout: str
    special: list[tuple[int, int, float]]
    seed: int
    changes: list[str]

    def __repr__(self) -> str:  # what a failing example prints: the network in one line
        return (
            f"MLP({self.nin}, {self.widths}, activation={self.activation!r}, bias={self.bias}), "
            f"tail {self.tail!r}, penalty {self.penalty}, {self.count} samples as {self.layout}, "
            f"special {self.special}, seed {self.seed}, changes {self.changes}"
        )

    def build(self) -> tuple[Any, list[Value], Callable[..., Value]]:
        from microgrsucc.nn import MLP

        model = MLP(self.nin, [*self.widths, 1], activation=self.activation, bias=self.bias, seed=self.seed)
        params = model.parameters()
        tail, w = TAILS[self.tail], params[0]

        def sample_loss(*args: Any) -> Value:
            *x, y = args
            out = tail(model(x), x[0], y, w)  # type: ignore[arg-type]
            return out + 1e-3 * sum(p * p for p in params) if self.penalty else out

        return model, params, sample_loss

    def rows(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        rows = rng.uniform(-2.0, 2.0, (self.count, self.nin + 1))
        rows[:, -1] = np.where(rows[:, -1] > 0.0, 1.0, -1.0)
        if self.layout == "ints":
            rows = np.round(rows * 2.0)
        for k, column, x in self.special:
            if k < self.count and (self.layout != "ints" or abs(x) < 2.0**53):  # no NaN, inf, 1e300
                rows[k, column % (self.nin + 1)] = round(x) if self.layout == "ints" else x
        return rows

    def batch(self, rows: np.ndarray) -> Any:
        """``rows`` as the user passes them; eager mode gets them as ``converted`` makes them."""
        if self.layout == "float32":
            with np.errstate(over="ignore"):  # 1e300 becomes inf, as intended
                return rows.astype(np.float32)
        if self.layout == "fortran":
            return np.asfortranarray(rows)
        if self.layout == "strided":
            wide = np.zeros((rows.shape[0], 2 * rows.shape[1]))
            wide[:, ::2] = rows
            return wide[:, ::2]
        if self.layout == "ints":
            return rows.astype(np.int64)
        if self.layout == "lists":
            return [list(row) for row in rows.tolist()]
        if self.layout == "tuples":
            return [tuple(row) for row in rows.tolist()]
        return rows


@st.composite
def networks(draw: st.DrawFn, widths: Sequence[int], counts: Sequence[int], nodes: int) -> Network:
    """A ``Network`` of hidden ``widths`` drawn from those given, a batch from ``counts``, at
    most ``nodes`` parameters times samples (eager mode builds every sample's graph)."""
    nin = draw(st.integers(1, 3), label="inputs")
    hidden = draw(st.lists(st.sampled_from(widths), min_size=1, max_size=2), label="hidden widths")
    size = sum((a + 1) * b for a, b in zip([nin, *hidden], [*hidden, 1], strict=True))
    count = draw(st.sampled_from([n for n in counts if n * size <= nodes] or [1]), label="samples")
    return Network(
        nin=nin,
        widths=hidden,
        activation=draw(st.sampled_from(["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "abs"])),
        bias=draw(st.booleans()),
        tail=draw(st.sampled_from(list(TAILS))),
        penalty=draw(st.booleans()),
        count=count,
        layout=draw(st.sampled_from(LAYOUTS)),
        special=draw(
            st.lists(
                st.tuples(st.integers(0, count - 1), st.integers(0, 3), st.sampled_from(SPECIAL_FLOATS)),
                max_size=3,
            )
        ),
        seed=draw(st.integers(0, 2**16)),
        changes=draw(st.lists(st.sampled_from(CHANGES), max_size=2)),
    )


def change(how: str, model: Any, params: list[Value], rng: random.Random) -> None:
    """The parameters changed between two calls as a training loop changes them."""
    from microgrsucc.optim import Adam

    if how == "p.data =":
        for p in params:
            if rng.random() < 0.3:
                p.data = random_weight(rng)
    elif how == "load_state_dict":  # another network's numbers under this one's names
        model.load_state_dict({name: random_weight(rng) for name in model.state_dict()})
    elif how == "an Adam step":
        for p in params:
            p.grad = rng.uniform(-1.0, 1.0)
        Adam(params, lr=0.1).step()
    else:
        flat = mg.FlatParameter(params)
        flat.data *= rng.choice([0.5, -1.0, 2.0])
        flat.unflatten()


def check_network(network: Network, backends: Sequence[str]) -> None:
    """Each backend's total and gradients (both reductions) and ``step(*sample)`` held to
    eager mode's, before and after each of the network's changes."""
    model, params, sample_loss = network.build()
    rows = network.rows()
    batch = network.batch(rows)
    plain = converted([tuple(r) for r in (np.asarray(batch, dtype=float).tolist())])
    steps = {b: mg.compile(sample_loss, params, backend=b) for b in backends}
    if "numba" in steps:
        try:
            steps["numba"].source(network.nin + 1)
        except TypeError as err:  # numba's documented limit (tests/test_numba_code.py)
            assert "too long for numba" in str(err)
            del steps["numba"]
    rng = random.Random(network.seed)
    found: list[str] = []
    for when in ["", *network.changes]:
        if when:
            change(when, model, params, rng)
        for reduction in REDUCTIONS:
            want = eager_outcome(sample_loss, params, plain, reduction, None)
            for backend, step in steps.items():
                got = compiled_outcome(step, batch, reduction, None)
                call = f"{backend}, backward(reduction={reduction!r}) after {when or 'nothing'}"
                if (
                    backend == "jax"
                    and differences(got, want, False)
                    and meets_a_subnormal(sample_loss, plain)
                ):
                    continue  # XLA flushes subnormals to 0 (docs/compile.md)
                found += [f"{call}: {d}" for d in differences(got, want, False)]
        want_one = eager_value(sample_loss, plain[-1])
        for backend, step in steps.items():
            d = differences(compiled_value(step, plain[-1]), want_one, False)
            if d and not (backend == "jax" and meets_a_subnormal(sample_loss, plain[-1:])):
                found += [f"{backend}, step(*last sample) after {when or 'nothing'}: {x}" for x in d]
    assert not found, "\n".join(found)


TILE_AND_CHUNK = [1, 2, 63, 64, 65, 129, 255, 256, 257, 511, 513, 1023, 1025, 2047, 2048, 2049]


# Two small networks in the default run; the slow run has the widths.
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(network=networks(widths=[1, 2, 5], counts=[1, 2, 65], nodes=1_500))
def test_networks_give_eager_results(network: Network) -> None:
    check_network(network, BACKENDS)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=200, suppress_health_check=list(HealthCheck))
@given(network=networks(widths=[1, 2, 5, 16, 32, 64, 128], counts=TILE_AND_CHUNK, nodes=60_000))
def test_hundreds_of_networks_give_eager_results(network: Network) -> None:
    check_network(network, BACKENDS)


# --- training loops: a compiled step and an optimizer against the same loop in eager mode -------
# What a user of a grown model runs: a step per batch (its size changing), zero_grad() or not,
# an optimizer of every kind and option stepping the parameters (as a list or a FlatParameter's
# arrays), the learning rate changed and parameters edited between steps.

EDITS = (0.0, -0.0, 40.0, math.inf, math.nan, 1e300)


@dataclass
class Loop:
    """A drawn training loop: the network, the optimizer and, per step, what happens."""

    nin: int
    width: int
    activation: str
    seed: int
    optimizer: str
    options: dict[str, Any]
    flat_step: bool  # compile given a FlatParameter of the parameters (else the list)
    flat_optimizer: bool  # the optimizer given the FlatParameter (else the list of views)
    unused: bool  # a parameter in the list that the loss never reaches
    steps: list[dict[str, Any]]

    def start(self, backend: str | None) -> tuple[list[Value], Callable[[dict[str, Any]], list[Any]]]:
        """The parameters (with the one the loss never reaches, if any) and a function that
        takes one step of the loop: it returns the total and each gradient (None as
        ``(nan, True)``), or the error's type name where eager mode raises. ``backend`` None:
        eager mode, the loss built per sample and ``backward()``."""
        from microgrsucc.nn import MLP
        from microgrsucc.optim import SGD, Adam, AdamW

        model = MLP(self.nin, [self.width, 1], activation=self.activation, seed=self.seed)
        params = model.parameters()
        every = [*params, Value(0.3)] if self.unused else params

        def sample_loss(*args: Any) -> Value:
            *x, y = args
            return (model(x) - y) ** 2 + 1e-3 * sum(p * p for p in params)

        flat = mg.FlatParameter(every) if self.flat_step or self.flat_optimizer else None
        kind = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[self.optimizer]
        optimizer = kind(flat if self.flat_optimizer else every, **self.options)  # type: ignore[arg-type]
        compiled = (
            None if backend is None else mg.compile(sample_loss, flat if self.flat_step else every, backend)
        )

        def step(taken: dict[str, Any]) -> list[Any]:
            rows = np.random.default_rng(taken["data"]).uniform(-2.0, 2.0, (taken["count"], self.nin + 1))
            if taken["zero_grad"] is not None:
                optimizer.zero_grad(set_to_none=taken["zero_grad"])
            if taken["lr"] is not None:
                optimizer.lr = taken["lr"]
            if taken["edit"] is not None:
                at, x = taken["edit"]
                every[at % len(every)].data = x
            try:
                if compiled is None:
                    losses = [sample_loss(*row) for row in rows.tolist()]
                    total = reduce(operator.add, losses)
                    total = total / len(losses) if taken["reduction"] == "mean" else total
                    total.backward()
                    out: list[Any] = [total.data]
                else:
                    out = [compiled.backward(rows, reduction=taken["reduction"])]
            except (ArithmeticError, ValueError) as err:
                return [type(err).__name__]
            optimizer.step()
            return out + [(math.nan, True) if p.grad is None else (p.grad, False) for p in every]

        return every, step


@st.composite
def loops(draw: st.DrawFn) -> Loop:
    optimizer = draw(st.sampled_from(["SGD", "Adam", "AdamW"]))
    options: dict[str, Any] = {"lr": draw(st.sampled_from([0.01, 0.1, 0.5])), "maximize": draw(st.booleans())}
    if optimizer == "SGD":
        options["momentum"] = draw(st.sampled_from([0.0, 0.5, 0.9]))
        options["nesterov"] = options["momentum"] > 0.0 and draw(st.booleans())
        options["dampening"] = 0.0 if options["nesterov"] else draw(st.sampled_from([0.0, 0.3]))
        options["weight_decay"] = draw(st.sampled_from([0.0, 0.01]))
    else:
        options["betas"] = (draw(st.sampled_from([0.0, 0.9])), draw(st.sampled_from([0.5, 0.999])))
        options["eps"] = draw(st.sampled_from([1e-8, 0.0]))
        options["weight_decay"] = draw(st.sampled_from([0.0, 0.01, 0.1]))
        options["amsgrad"] = draw(st.booleans())
    step = st.fixed_dictionaries(
        {
            "count": st.sampled_from([1, 2, 3, 7, 11]),
            "data": st.integers(0, 2**32 - 1),
            "zero_grad": st.sampled_from([True, False, None]),  # set_to_none, to 0.0, not called
            "reduction": st.sampled_from(REDUCTIONS),
            "lr": st.sampled_from([None, None, 0.05]),
            "edit": st.one_of(
                st.none(),
                st.tuples(st.integers(0, 1000), st.one_of(st.floats(-2.0, 2.0), st.sampled_from(EDITS))),
            ),
        }
    )
    flat_step = draw(st.booleans())
    return Loop(
        nin=draw(st.integers(1, 3)),
        width=draw(st.integers(1, 6)),
        activation=draw(st.sampled_from(["relu", "tanh", "sigmoid"])),
        seed=draw(st.integers(0, 2**16)),
        optimizer=optimizer,
        options=options,
        flat_step=flat_step,
        flat_optimizer=draw(st.booleans()),
        unused=draw(st.booleans()),
        steps=draw(st.lists(step, min_size=1, max_size=5)),
    )


def check_loop(loop: Loop, backends: Sequence[str]) -> None:
    """Each backend's loop step by step against eager mode's, from the same parameters: the
    eager loop's are set to the compiled loop's before each step, so that rounding does not
    compound (a loop that diverges, as ``maximize`` on this loss does, amplifies an ulp into
    any difference), while the optimizer's state is each loop's own. Numbers agree to 1e-9 of
    the step's largest (numpy's tanh is an ulp from math's, which ``1 - tanh**2`` of a
    saturated unit makes 1e-8 of a small gradient)."""
    for backend in backends:
        want_params, want_step = loop.start(None)
        got_params, got_step = loop.start(backend)
        numbers: list[float] = []
        for k, taken in enumerate(loop.steps):
            for p, q in zip(want_params, got_params, strict=True):
                p.data = q.data
            want, got = want_step(taken), got_step(taken)
            numbers = [x[0] if isinstance(x, tuple) else x for x in want if not isinstance(x, str)]
            tolerance = 1e-9 * _largest(numbers)
            same = len(got) == len(want) and all(map(_same, got, want, [tolerance] * len(want)))
            assert same, f"{backend}, step {k}: {got} != eager's {want}"
            if isinstance(want[0], str):
                return
        # The last step's optimizer moved the parameters by lr times its gradients at most.
        want_data = [p.data for p in want_params]
        tolerance = 1e-9 * _largest(want_data + numbers)
        assert all(_same(q.data, b, tolerance) for q, b in zip(got_params, want_data, strict=True))


def _largest(numbers: list[float]) -> float:
    return max([1.0, *(abs(x) for x in numbers if math.isfinite(x))])


def _same(a: Any, b: Any, tolerance: float) -> bool:
    """Both the same error, or both None gradients, or numbers within ``tolerance`` (NaN to NaN)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a[1] == b[1] and _same(a[0], b[0], tolerance)
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return bool(a == b or (a != a and b != b) or abs(a - b) <= tolerance)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(loop=loops())
def test_training_loops_with_every_optimizer_give_eager_results(loop: Loop) -> None:
    check_loop(loop, BACKENDS)


@pytest.mark.slow
@settings(parent=settings.get_profile("thorough"), max_examples=1000, suppress_health_check=list(HealthCheck))
@given(loop=loops())
def test_a_thousand_training_loops_with_every_optimizer_give_eager_results(loop: Loop) -> None:
    check_loop(loop, BACKENDS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", [pytest.param("numba", marks=pytest.mark.numba), pytest.param("jax", marks=pytest.mark.jax)]
)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(loop=loops())
def test_training_loops_on_compiled_backends_give_eager_results(backend: str, loop: Loop) -> None:
    check_loop(loop, [backend])
