"""What an entry of the table is: ``Primitive``, ``Parametric`` (an op with constants), and the
registry ``PRIMITIVES`` that the family modules fill.

A derivative is written once, in terms of the inputs ``x`` (and ``y``), the op's output
``out`` and a namespace ``F`` of elementary functions. ``backward()`` calls it with floats
and ``F = FLOAT`` for plain first-order gradients (fast), and with Values and ``F`` = the
Value methods (``value.VALUE``) when ``create_graph=True``, so the gradient is itself a
graph that can be differentiated again; forward mode (``forward.Dual``) calls it with
floats. A unary op returns one partial; an op of n inputs returns a tuple of n partials,
in input order. ``F.value(x)`` is the plain number inside, for branching.

Forward functions take and return floats. They raise ``ValueError`` with a short reason for
inputs outside their domain; the engine prefixes the op and its operands to every error.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

__all__ = ["Primitive", "Parametric", "PRIMITIVES", "Table", "FLOAT", "DEFAULT_DOMAIN", "Domain", "register"]

# A derivative is a function of (F, *inputs, out) whose inputs are floats or Values, or, for a
# linear op, its constant partials; so it is typed Any.
Derivative = Any

# Where tests and random graphs draw an op's arguments: per argument, one or more intervals.
Domain = tuple[tuple[tuple[float, float], ...], ...]

DEFAULT_DOMAIN: tuple[tuple[float, float], ...] = ((-1.0, 1.0),)
"""Each argument's interval for an op that declares no domain: moderate reals."""


class Primitive:
    """One op: its name, arity, float forward and local derivative.

    A name that is an identifier becomes a Value method and a module-level function
    (``x.exp()``, ``microgrsucc.exp``) and a function of the command line's expressions;
    ``operator`` makes it a Python operator too (``"add"``: ``__add__`` and ``__radd__``).
    ``domain`` says where tests draw its arguments, away from kinks and domain edges: per
    argument, a tuple of intervals; ``DEFAULT_DOMAIN`` for each argument when not given.
    ``symbol`` is how pictures write it (the name when not given).

    >>> from microgrsucc.ops import mul
    >>> mul.forward(3.0, 4.0), mul.derivative(FLOAT, 3.0, 4.0, 12.0)
    (12.0, (4.0, 3.0))
    """

    # constant, unit and swapped are set with the derivative (__setattr__): what backward()
    # can read of it without a call.
    __slots__ = (
        "name",
        "arity",
        "forward",
        "derivative",
        "constant",
        "unit",
        "swapped",
        "operator",
        "domain",
        "symbol",
    )

    def __init__(
        self,
        name: str,
        arity: int,
        forward: Callable[..., float],
        derivative: Derivative,
        *,
        operator: str | None = None,
        domain: Domain | None = None,
        symbol: str | None = None,
    ) -> None:
        self.name = name
        self.arity = arity
        self.forward = forward
        self.derivative = derivative  # also sets constant, unit and swapped (__setattr__)
        self.operator = operator
        self.domain: Domain = domain if domain is not None else (DEFAULT_DOMAIN,) * arity
        self.symbol = symbol or name  # how pictures write the op

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name == "derivative":
            # What backward() reads of the derivative without calling it, kept in step with
            # it when a derivative is replaced later. A linear op's partials do not depend on
            # its inputs (1 and 1 for +): written as a number or tuple, they are read as they
            # are. Every partial is 1 (+): a float gradient is passed on without multiplying.
            # The partials are the inputs swapped (x * y, half of a neural network's nodes):
            # they are the recorded values, read without a call (about 9% of backward()).
            self.constant = not callable(value)
            self.unit = self.constant and value == (1.0,) * self.arity
            self.swapped = value is swapped_inputs
        if name in _FUNCTIONS:  # counted after the change: a reader that sees the count sees it
            Table.changes += 1

    def __repr__(self) -> str:
        return f"<primitive {self.name}/{self.arity}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # A built-in pickles by name, so an unpickled graph shares the table's entries.
        if PRIMITIVES.get(self.name) is self:
            return (_builtin, (self.name,))
        return (_custom, (self.name, self.arity, self.forward, self.derivative, self.domain, self.symbol))


def swapped_inputs(F: Any, x: Any, y: Any, out: Any) -> tuple[Any, Any]:
    """The partials of a product ``x * y``: ``y`` for ``x`` and ``x`` for ``y``.

    One function, so that ``backward()`` knows an op whose derivative it is
    (``Primitive.swapped``) and reads the recorded values instead of calling it.

    >>> swapped_inputs(FLOAT, 3.0, 4.0, 12.0)
    (4.0, 3.0)
    """
    return y, x


def _builtin(name: str) -> Primitive:
    return PRIMITIVES[name]


def _custom(
    name: str, arity: int, forward: Callable[..., float], derivative: Derivative, domain: Domain, symbol: str
) -> Primitive:
    return Primitive(name, arity, forward, derivative, domain=domain, symbol=symbol)


class Parametric(Primitive):
    """A unary op with constants (``leaky_relu``'s ``negative_slope``): one primitive per value
    of the constants, made on demand by ``family`` (cached) and pickled as ``family(*constants)``.

    The constants' names and defaults are ``family``'s parameters (PyTorch's); the table holds
    the instance with the defaults under the plain name. The method and the function
    (``x.leaky_relu(0.2)``, ``microgrsucc.leaky_relu(x, negative_slope=0.2)``) take the constants
    by position or by name and apply the instance they name; ``x ** 2`` (``pow_const``) is the
    same idea, through the operator. Pictures show the constants that are not the defaults.
    ``operands``, if given, is how the op applies when a constant is a Value rather than a
    number (``x.clamp(lo, hi)`` with Value bounds, which then get gradients): called with the
    operand and the constants as ``family`` takes them, it applies ops of the table to them.

    >>> from microgrsucc.ops import leaky_relu
    >>> leaky_relu.parameters, leaky_relu.constants
    (('negative_slope',), (0.01,))
    >>> slope = leaky_relu.family(0.2)
    >>> slope.forward(-1.0), slope.symbol
    (-0.2, 'leaky_relu(negative_slope=0.2)')
    """

    __slots__ = ("family", "parameters", "constants", "defaults", "operands", "changed")

    def __init__(
        self,
        name: str,
        family: Callable[..., Primitive],
        constants: tuple[Any, ...],
        forward: Callable[..., float],
        derivative: Derivative,
        *,
        domain: Domain | None = None,
        operands: Callable[..., Any] | None = None,
    ) -> None:
        signature = inspect.signature(family).parameters.values()
        self.family, self.constants, self.operands = family, constants, operands
        self.parameters = tuple(p.name for p in signature)
        self.defaults = tuple(p.default for p in signature)
        # The constants that are not the defaults, as PyTorch's keyword arguments, for the
        # pictures and the names of nodes (leaky_relu(x, negative_slope=0.2)).
        self.changed = tuple(
            f"{p}={c!r}" for p, c, d in zip(self.parameters, constants, self.defaults, strict=True) if c != d
        )
        symbol = f"{name}({', '.join(self.changed)})" if self.changed else name
        super().__init__(name, 1, forward, derivative, domain=domain, symbol=symbol)

    def __reduce__(self) -> tuple[Any, ...]:
        if PRIMITIVES.get(self.name) is self:
            return (_builtin, (self.name,))
        return (self.family, self.constants)

    def method(
        self, apply: Callable[..., Any], make: Callable[[Primitive], Callable[..., Any]]
    ) -> Callable[..., Any]:
        """The method of this op for a class whose op functions ``make`` makes (``recording.install_ops``):
        ``x.leaky_relu()`` is ``apply``, the table's entry; ``x.leaky_relu(0.2)`` or
        ``x.leaky_relu(negative_slope=0.2)`` applies the family's member for 0.2."""
        by_constants = lru_cache(maxsize=256)(lambda constants: make(self.family(*constants)))

        def method(x: Any, *args: Any, **kwargs: Any) -> Any:
            if not args and not kwargs:
                if self.constants == (None,) * len(self.constants):  # clamp: torch refuses no bounds too
                    raise TypeError(f"{self.name}: give at least one of {', '.join(self.parameters)}")
                return apply(x)
            constants = self.bind(args, kwargs)
            if self.operands is not None and any(_operand(c) for c in constants):
                return self.operands(x, *constants)  # before the cache: it would keep the Values alive
            return by_constants(constants)(x)

        method.__name__ = method.__qualname__ = self.name
        return method

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The constants that ``args`` and ``kwargs`` name (the defaults for the rest), as
        ``family`` takes them; a ``TypeError`` naming the op for too many, an unknown or a
        repeated one."""
        names = self.parameters
        if len(args) > len(names):
            raise TypeError(f"{self.name} takes {len(names)} constant(s) {names}, got {len(args)}")
        given = dict(zip(names, args, strict=False))  # fewer args than names: the rest by name
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{self.name} got an unexpected keyword argument {key!r}; it takes {names}")
            if key in given:
                raise TypeError(f"{self.name} got multiple values for argument {key!r}")
            given[key] = value
        return tuple(given.get(n, d) for n, d in zip(names, self.defaults, strict=True))


def _operand(c: Any) -> bool:
    """Whether a constant given to a Parametric op is an operand (a Value), not a number."""
    return c is not None and not isinstance(c, (numbers.Real, str))


def constant(x: Any, op: str, parameter: str) -> float:
    """A real constant of an op as a float, else a ``TypeError`` naming the op and parameter."""
    if isinstance(x, bool) or not hasattr(x, "__float__"):
        raise TypeError(f"{op}: {parameter} must be a real number, got {type(x).__name__}")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {parameter} must be a real number, got {type(x).__name__}") from None


_FUNCTIONS = frozenset({"forward", "derivative"})


class Table(dict[str, Primitive]):
    """``PRIMITIVES``' type: a dict that counts its changes.

    ``Table.changes`` counts every change to a table's entries and every assignment to an
    op's ``forward`` or ``derivative``: while it stands still, a compiled step knows without
    comparing anything that the ops it traced are the same (``compile``). Each change is
    counted after it is made. (``dict``'s own methods called on a table, as
    ``dict.__setitem__(PRIMITIVES, ...)``, change it uncounted.)
    """

    __slots__ = ()
    changes = 0

    def __setitem__(self, key: str, value: Primitive) -> None:
        super().__setitem__(key, value)
        Table.changes += 1

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        Table.changes += 1

    def __ior__(self, other: Any) -> Table:  # type: ignore[override,misc]
        super().__ior__(other)
        Table.changes += 1
        return self

    def clear(self) -> None:
        super().clear()
        Table.changes += 1

    def pop(self, *args: Any) -> Any:
        found = super().pop(*args)
        Table.changes += 1
        return found

    def popitem(self) -> tuple[str, Primitive]:
        found = super().popitem()
        Table.changes += 1
        return found

    def setdefault(self, *args: Any) -> Any:
        found = super().setdefault(*args)
        Table.changes += 1
        return found

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        Table.changes += 1


PRIMITIVES: Table = Table()
"""The table: every built-in op by name, in the order the family modules list them."""


def register(*entries: Primitive) -> None:
    """Add entries to the table (``PRIMITIVES[op.name] = op`` says the same for one)."""
    for op in entries:
        PRIMITIVES[op.name] = op


# The table's forwards by name (F.cos), for derivatives evaluated without a graph, and
# value: the plain number inside, for branching (the identity here). The forwards are added
# by functions.py once the table is complete, so an op appended to the table is in it too; a
# plain namespace, so that reading F.cos in a derivative stays a fast lookup.
FLOAT = SimpleNamespace(value=float)


def vertical(F: Any, x: Any, sign: float = 1.0) -> Any:
    """The slope of a vertical tangent: ±inf; as a graph, one whose own slope is NaN (undefined),
    so a second derivative there says so rather than the 0 of a constant."""
    return sign * math.inf if F is FLOAT else (x * 0.0 + 1.0) * (sign * math.inf)
