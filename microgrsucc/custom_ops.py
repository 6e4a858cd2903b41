"""Custom ops: a new primitive from its forward and its derivative, usable everywhere.

``custom_op`` is this library's ``torch.autograd.Function`` / ``jax.custom_vjp`` /
``autograd.defvjp``: give a name, a forward on floats and the local derivative written
like the entries of ``microgrsucc.ops``, and the op works with ``backward()``, ``grad`` to
any order, ``jvp``, drawing and ``gradcheck``.

The derivative is a function ``(F, *inputs, out)`` returning one partial per input (a
tuple for two or more). Write it with operators and ``F.exp``, ``F.log``, ``F.sin``, ...:
first-order ``backward()`` calls it with floats (fast), ``create_graph=True`` and ``grad``
call it with Values, so it is differentiated again. ``F.value(x)`` is the plain float,
for branching only: a derivative computed from it is a constant to the next order. A
linear op may give its constant partials instead of a function.

>>> import math
>>> import microgrsucc as mg
>>> softplus = mg.custom_op(
...     "smooth_relu", lambda x: math.log1p(math.exp(x)), lambda F, x, out: F.sigmoid(x)
... )
>>> mg.grad(softplus)(0.0), mg.grad(mg.grad(softplus))(0.0)
(0.5, 0.25)
"""

from __future__ import annotations

import inspect
import numbers
import pickle
import reprlib
from collections.abc import Callable
from typing import Any

from microgrsucc import ops, pickling
from microgrsucc.forward import Dual, lift
from microgrsucc.functions import operands_of
from microgrsucc.ops import Primitive
from microgrsucc.recording import recorder
from microgrsucc.value import Operand, Value

__all__ = ["CustomOp", "custom_op"]


class CustomOp:
    """A primitive made callable on Values, numbers and Duals: ``op(x, ...) -> Value``.

    ``primitive`` is the ``ops.Primitive`` it applies (pass it to
    ``testing.strategies.graphs`` to property-test the op inside random graphs).
    """

    __slots__ = ("primitive", "_reverse", "_forward")

    def __init__(self, primitive: Primitive) -> None:
        self.primitive = primitive
        self._reverse = recorder(primitive)
        self._forward = lift(primitive)

    def __call__(self, *operands: Operand) -> Value:
        for x in operands:  # a traced value (microgrsucc.compile) records the op instead
            apply_op = getattr(x.__class__, "apply_op", None)
            if apply_op is not None:
                return apply_op(self.primitive, *operands)  # type: ignore[no-any-return]
        values = operands_of(self.primitive, operands)
        if any(x.__class__ is Dual for x in values):
            return self._forward(*values)  # type: ignore[no-any-return]
        return self._reverse(*values)

    def __repr__(self) -> str:
        return f"<custom op {self.primitive.name}/{self.primitive.arity}>"


def custom_op(
    name: str,
    forward: Callable[..., float],
    derivative: Any,
    *,
    arity: int | None = None,
    domain: ops.Domain | None = None,
) -> CustomOp:
    """A new op from its float ``forward`` and its ``derivative`` (see the module docstring).

    ``arity`` defaults to the number of positional parameters of ``forward``; ``domain``
    says where tests draw its arguments (as in ``ops.Primitive``).

    >>> from microgrsucc import grad
    >>> cube = custom_op("cube", lambda x: x**3, lambda F, x, out: 3.0 * x * x)
    >>> grad(grad(grad(cube)))(5.0)
    6.0
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"custom_op: the name must be a non-empty string, got {name!r}")
    if name in ops.PRIMITIVES:
        raise ValueError(f"custom_op {name}: the name is taken by a built-in primitive")
    if not callable(forward):
        raise TypeError(f"custom_op {name}: forward must be callable, got {type(forward).__name__}")
    if arity is None:
        arity = _positional_parameters(name, forward)
    if type(arity) is not int or arity < 1:
        raise ValueError(f"custom_op {name}: arity must be a positive int, got {arity!r}")
    if callable(derivative):
        derivative = _CheckedDerivative(name, arity, derivative)
    else:
        _check_constant(name, derivative, arity)
    return CustomOp(Primitive(name, arity, _CheckedForward(name, arity, forward), derivative, domain=domain))


# The user's functions are wrapped in classes, not closures, so that a graph using the op
# pickles whenever the user's forward and derivative do (module-level functions).


class _Wrapped:
    """One of the user's functions, checked on each call; picklable by reference to it.

    The compiler derives ``function`` itself (``compiler.tree``): the checks are for numbers.
    Not ``__wrapped__``, which doctest's finder would follow from the class.
    """

    __slots__ = ("name", "arity", "function", "__name__")

    def __init__(self, name: str, arity: int, function: Callable[..., Any]) -> None:
        self.name, self.arity, self.function = name, arity, function
        self.__name__ = getattr(function, "__name__", name)

    def __reduce__(self) -> tuple[Any, ...]:
        qualname = getattr(self.function, "__qualname__", "")
        if "<" in qualname:  # a lambda or a function defined inside another one
            pickling.abandon()  # the graph's pickle ends here
            raise pickle.PicklingError(
                f"custom op {self.name}: {self.__name__!r} ({qualname}) is not a module-level "
                "function, so a graph using the op cannot be pickled; define the op's forward "
                "and derivative with def at the top of a module"
            )
        return (type(self), (self.name, self.arity, self.function))

    def __deepcopy__(self, memo: dict[int, Any]) -> _Wrapped:
        return self  # immutable: a copied graph shares the op's functions


CHECKED = _Wrapped
"""The class of a custom op's checked functions, for the compiler to see through."""


class _CheckedForward(_Wrapped):
    """The user's forward, its result made a float: a numpy float32 must not leak into the
    graph, and a complex, None or str result is refused naming the op."""

    __slots__ = ()

    def __call__(self, *xs: float) -> float:
        out = self.function(*xs)
        if out.__class__ is float:
            return out
        if isinstance(out, bool) or not isinstance(out, numbers.Real):
            raise TypeError(
                f"custom op {self.name}: forward must return a real number, got {type(out).__name__}: "
                f"{reprlib.repr(out)}"
            )
        return float(out)


class _CheckedDerivative(_Wrapped):
    """The user's derivative, checked for one partial per input, each a real number or a Value."""

    __slots__ = ()

    def __call__(self, F: Any, *args: Any) -> Any:
        name, arity = self.name, self.arity
        try:
            d = self.function(F, *args)
        except (ArithmeticError, ValueError) as err:
            # Raised inside backward(), far from the op: say which op and where, as forward's
            # errors do (0.5 / out at out = 0 is "float division by zero" alone).
            at = ", ".join(reprlib.repr(x.data if isinstance(x, Value) else x) for x in args[:arity])
            raise type(err)(f"custom op {name}: its derivative at ({at}) failed: {err}") from err
        partials = (d,) if arity == 1 and not isinstance(d, (tuple, list)) else d
        if not isinstance(partials, (tuple, list)) or len(partials) != arity:
            got = f"{len(partials)} partials" if isinstance(partials, (tuple, list)) else type(d).__name__
            raise TypeError(
                f"custom op {name}: derivative must give {arity} partial(s), one per input, got {got}"
            )
        out: list[Any] = []
        for i, p in enumerate(partials):
            if p.__class__ is float:
                out.append(p)
            elif isinstance(p, Value):  # a Value closed over is a constant to a float backward()
                out.append(p.data if F is ops.FLOAT else p)
            elif isinstance(p, numbers.Real) and not isinstance(p, bool):
                out.append(float(p))
            else:
                raise TypeError(
                    f"custom op {name}: partial {i} must be a real number, got {type(p).__name__}: "
                    f"{reprlib.repr(p)}"
                )
        return out[0] if arity == 1 else tuple(out)


def _positional_parameters(name: str, forward: Callable[..., float]) -> int:
    try:
        parameters = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        raise TypeError(f"custom_op {name}: cannot read forward's signature; pass arity=") from None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        raise TypeError(f"custom_op {name}: forward takes *args; pass arity=")
    return sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in parameters)


def _check_constant(name: str, derivative: Any, arity: int) -> None:
    """Constant partials: one number for a unary op, a tuple of ``arity`` numbers otherwise."""
    partials = (derivative,) if arity == 1 else derivative
    if (
        not isinstance(partials, tuple)
        or len(partials) != arity
        or not all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in partials)
    ):
        shape = "a number" if arity == 1 else f"a tuple of {arity} numbers"
        raise TypeError(
            f"custom_op {name}: derivative must be a function (F, *inputs, out) or {shape}, "
            f"got {derivative!r}"
        )
