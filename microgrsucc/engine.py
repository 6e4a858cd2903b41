"""The engine: ``Value`` nodes, the graph they record, and reverse-mode ``backward()``.

The engine knows nothing about any particular op: an op is a ``Primitive`` from ``ops.py``
(a forward on floats and its local derivatives). Applying one records a node that points at
the primitive and its inputs; ``backward()`` walks the nodes below the root in topological
order, iteratively, and multiplies each node's gradient by the partials the primitive gives.

Nodes are cheap on purpose: ``__slots__``, no per-node closure and no reference back from an
input to its output, so a graph that is dropped is freed at once by reference counting.
"""

from __future__ import annotations

import functools
import numbers
import reprlib
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from types import SimpleNamespace, TracebackType
from typing import Any, SupportsFloat, TypeVar, Union

from microgrsucc import ops
from microgrsucc.ops import Primitive

__all__ = ["Operand", "Value", "apply", "is_grad_enabled", "no_grad", "zero_grad"]

Operand = Union["Value", SupportsFloat]
"""A Value or a plain real number (int, float, Fraction, numpy scalar, ...)."""

_F = TypeVar("_F", bound=Callable[..., Any])


# --- recording ops ---------------------------------------------------------------------------
# Each op becomes one function, made once per primitive (not per node), that computes the
# forward and records the node. These are the Value methods; apply() makes them for new ops.

_new = object.__new__


def _leaf(data: float) -> Value:
    out: Value = _new(Value)
    out.data = data
    out.grad = 0.0
    out.label = None
    out._op = None
    out._a = None
    out._b = None
    return out


def _unary(op: Primitive) -> Callable[[Value], Value]:
    forward = op.forward

    def apply(x: Value) -> Value:
        try:
            data = forward(x.data)
        except (ArithmeticError, ValueError) as err:
            raise _op_error(op, err, x.data) from None
        out: Value = _new(Value)
        out.data = data
        out.grad = 0.0
        out.label = None
        out._b = None
        if _no_grad_count and _no_grad_here():
            out._op = None
            out._a = None
        else:
            out._op = op
            out._a = x
        return out

    apply.__name__ = apply.__qualname__ = op.name
    apply.__doc__ = f"Apply the primitive ``{op.name}`` (see microgrsucc.ops)."
    return apply


def _binary(op: Primitive) -> Callable[[Value, Operand], Value]:
    forward = op.forward

    def apply(x: Value, y: Operand) -> Value:
        if y.__class__ is not Value:
            y = _constant(y)
            if y is NotImplemented:
                return NotImplemented
        try:
            data = forward(x.data, y.data)  # type: ignore[union-attr]
        except (ArithmeticError, ValueError) as err:
            raise _op_error(op, err, x.data, y.data) from None  # type: ignore[union-attr]
        out: Value = _new(Value)
        out.data = data
        out.grad = 0.0
        out.label = None
        if _no_grad_count and _no_grad_here():
            out._op = None
            out._a = None
            out._b = None
        else:
            out._op = op
            out._a = x
            out._b = y
        return out

    apply.__name__ = apply.__qualname__ = op.name
    apply.__doc__ = f"Apply the primitive ``{op.name}`` (see microgrsucc.ops)."
    return apply


def _reflected(apply: Callable[[Value, Operand], Value]) -> Callable[[Value, Operand], Value]:
    """``other OP self`` for a plain number on the left."""

    def rapply(self: Value, other: Operand) -> Value:
        left = _constant(other)
        return left if left is NotImplemented else apply(left, self)

    return rapply


def _nary(op: Primitive) -> Callable[..., Value]:
    def apply(*inputs: Operand) -> Value:
        if len(inputs) != op.arity:
            raise TypeError(f"{op.name} takes {op.arity} operands, got {len(inputs)}")
        args = tuple(x if isinstance(x, Value) else _leaf(_to_float(x, op.name)) for x in inputs)
        try:
            data = _to_float(op.forward(*[x.data for x in args]), op.name)
        except (ArithmeticError, ValueError) as err:
            raise _op_error(op, err, *[x.data for x in args]) from None
        out = _leaf(data)
        if not (_no_grad_count and _no_grad_here()):
            out._op = op
            out._a = args
        return out

    apply.__name__ = apply.__qualname__ = op.name
    return apply


def apply(op: Primitive) -> Callable[..., Value]:
    """The function that applies ``op`` to Values (or numbers) and records the node.

    This is how ops are added: describe one with a ``Primitive`` (forward and derivative)
    and call the result of ``apply(primitive)``; ``backward()`` needs nothing more.
    """
    if op.arity == 1:
        unary = _unary(op)
        return lambda x: unary(x if isinstance(x, Value) else _leaf(_to_float(x, op.name)))
    if op.arity == 2:
        binary = _binary(op)
        return lambda x, y: binary(x if isinstance(x, Value) else _leaf(_to_float(x, op.name)), y)
    return _nary(op)


_pow = _binary(ops.pow)


@functools.lru_cache(maxsize=256)
def _pow_by(exponent: float) -> Callable[[Value], Value]:
    return _unary(ops.pow_const(exponent))


def _op_error(op: Primitive, err: Exception, *operands: float) -> Exception:
    """The same kind of error, naming the op and its operands: ``log(-1.0): the operand must be > 0``."""
    shown = [reprlib.repr(x) for x in operands]
    if len(shown) == 2 and not op.name.isidentifier():
        call = f"{shown[0]} {op.name} {shown[1]}"
    elif len(shown) == 1 and not op.name.isidentifier():
        call = f"{shown[0]} {op.name}"  # a constant power such as "**0.5"
    else:
        call = f"{op.name}({', '.join(shown)})"
    if isinstance(err, OverflowError):
        reason = "the result is too large for a float"
    elif isinstance(err, ZeroDivisionError) and str(err) in ("float division by zero", "division by zero"):
        reason = "division by zero"
    else:
        reason = str(err)
    return type(err)(f"{call}: {reason}")


def _to_float(x: object, where: str) -> float:
    """A real number as a float; ``TypeError`` naming the type for anything else."""
    if x.__class__ is float:
        return x  # type: ignore[return-value]
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, Decimal)):
        raise TypeError(f"{where} expects a real number, got {type(x).__name__}: {reprlib.repr(x)}")
    try:
        return float(x)
    except OverflowError:
        raise OverflowError(f"{where}: {reprlib.repr(x)} is too large for a float") from None


def _constant(x: object) -> Any:
    """A plain-number operand as a leaf; NotImplemented for types we don't take (Python then raises)."""
    if isinstance(x, Value):
        return x
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, Decimal)):
        return NotImplemented
    return _leaf(_to_float(x, "operand"))


# --- gradient recording on and off ----------------------------------------------------------

_state = threading.local()
_no_grad_count = 0  # no_grad() blocks open in any thread: the common case (0) skips the thread-local
_no_grad_lock = threading.Lock()


def _no_grad_here() -> bool:
    return getattr(_state, "depth", 0) > 0


def is_grad_enabled() -> bool:
    """False inside ``no_grad()`` in the current thread."""
    return not _no_grad_here()


class no_grad:
    """Context manager (or decorator) under which ops record no graph, in this thread only.

    >>> x = Value(2.0)
    >>> with no_grad():
    ...     y = x * x
    >>> y.is_leaf
    True
    """

    def __enter__(self) -> None:
        global _no_grad_count
        _state.depth = getattr(_state, "depth", 0) + 1
        with _no_grad_lock:
            _no_grad_count += 1

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        global _no_grad_count
        _state.depth -= 1
        with _no_grad_lock:
            _no_grad_count -= 1

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def zero_grad(values: Iterable[Value]) -> None:
    """Set the ``grad`` of each Value to 0.0 (leaf gradients otherwise accumulate)."""
    for v in values:
        v.grad = 0.0


class Value:
    """A scalar node of a computation graph.

    ``data`` is the node's value (always a float), ``grad`` the derivative of the last root
    ``backward()`` was called on with respect to this node.

    >>> x = Value(3.0, label="x")
    >>> y = x * x + 1
    >>> y.backward()
    >>> y.data, x.grad
    (10.0, 6.0)
    """

    __slots__ = ("data", "grad", "label", "_op", "_a", "_b")
    # Lets numpy scalars on the left defer to our reflected operators (np.float64(2) * v).
    __array_ufunc__ = None

    data: float
    grad: Any  # a float; a Value after backward(create_graph=True)
    label: str | None
    _op: Primitive | None  # None for a leaf
    _a: Any  # first input; for ops of three or more inputs, the tuple of all inputs
    _b: Any  # second input of a binary op, else None

    def __init__(self, data: SupportsFloat, label: str | None = None) -> None:
        self.data = _to_float(data, "Value")
        self.grad = 0.0
        self.label = label
        self._op = None
        self._a = None
        self._b = None

    # --- inspection --------------------------------------------------------------------------

    @property
    def op(self) -> str | None:
        """The name of the op that produced this node (``"*"``, ``"tanh"``, ...), or None for a leaf."""
        return None if self._op is None else self._op.name

    @property
    def inputs(self) -> tuple[Value, ...]:
        """The nodes this one was computed from, in operand order (empty for a leaf)."""
        op = self._op
        if op is None:
            return ()
        if op.arity == 1:
            return (self._a,)
        if op.arity == 2:
            return (self._a, self._b)
        return tuple(self._a)

    @property
    def is_leaf(self) -> bool:
        """True for nodes no op produced: inputs, parameters, constants, detached values."""
        return self._op is None

    def item(self) -> float:
        """The plain float value, as ``torch.Tensor.item()``."""
        return self.data

    def __repr__(self) -> str:
        label = "" if self.label is None else f", label={self.label!r}"
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    # --- arithmetic: each operator applies one primitive from ops.py -------------------------
    # The methods are made by _unary/_binary below: one call per op, no per-node closure.

    __add__ = _binary(ops.add)
    __radd__ = _reflected(__add__)
    __sub__ = _binary(ops.sub)
    __rsub__ = _reflected(__sub__)
    __mul__ = _binary(ops.mul)
    __rmul__ = _reflected(__mul__)
    __truediv__ = _binary(ops.div)
    __rtruediv__ = _reflected(__truediv__)
    __neg__ = _unary(ops.neg)
    __abs__ = _unary(ops.abs_)
    exp = _unary(ops.exp)
    log = _unary(ops.log)
    sqrt = _unary(ops.sqrt)
    sin = _unary(ops.sin)
    cos = _unary(ops.cos)
    tanh = _unary(ops.tanh)
    sigmoid = _unary(ops.sigmoid)
    relu = _unary(ops.relu)

    def __pow__(self, other: Operand) -> Value:
        if isinstance(other, Value):
            return _pow(self, other)
        exponent = _constant(other)
        if exponent is NotImplemented:
            return NotImplemented
        # A constant exponent is part of the op, so no gradient is owed to it.
        return _pow_by(exponent.data)(self)

    def __rpow__(self, other: SupportsFloat) -> Value:
        base = _constant(other)
        return base if base is NotImplemented else _pow(base, self)

    def __pos__(self) -> Value:
        return self

    # --- gradients ----------------------------------------------------------------------------

    def detach(self) -> Value:
        """A new leaf with the same value, cut from the graph (as ``torch.Tensor.detach``)."""
        return _leaf(self.data)

    def backward(self, gradient: Any = 1.0, *, create_graph: bool = False) -> None:
        """Set every node's ``grad`` below this one to d(self)/d(node).

        Leaf gradients accumulate across calls, as in PyTorch, until zeroed
        (``zero_grad``); gradients of interior nodes hold the latest pass only.
        With ``create_graph=True`` the gradients are Values with graphs of their own, so
        they can be differentiated again.
        """
        if self._op is None:
            self.grad = self.grad + gradient
            return
        counts = _consumer_counts(self)
        self.grad = gradient
        F = _VALUE if create_graph else ops.FLOAT
        ready = [self]
        pop, push = ready.pop, ready.append
        while ready:
            node = pop()
            op = node._op
            g = node.grad
            arity = op.arity
            a = node._a
            if arity == 1:
                if op.constant:
                    d = op.derivative
                elif create_graph:
                    d = op.derivative(F, a, node)
                else:
                    d = op.derivative(F, a.data, node.data)
                a.grad = a.grad + g * d
                if a._op is not None:
                    n = counts[a] - 1
                    if n:
                        counts[a] = n
                    else:
                        push(a)
            elif arity == 2:
                b = node._b
                if op.constant:
                    da, db = op.derivative
                elif create_graph:
                    da, db = op.derivative(F, a, b, node)
                else:
                    da, db = op.derivative(F, a.data, b.data, node.data)
                a.grad = a.grad + g * da
                b.grad = b.grad + g * db
                # Each edge is counted once, so x * x releases x after both of its edges.
                if a._op is not None:
                    n = counts[a] - 1
                    if n:
                        counts[a] = n
                    else:
                        push(a)
                if b._op is not None:
                    n = counts[b] - 1
                    if n:
                        counts[b] = n
                    else:
                        push(b)
            else:
                if op.constant:
                    partials = op.derivative
                elif create_graph:
                    partials = op.derivative(F, *a, node)
                else:
                    partials = op.derivative(F, *[x.data for x in a], node.data)
                for p, d in zip(a, partials, strict=True):
                    p.grad = p.grad + g * d
                    if p._op is not None:
                        n = counts[p] - 1
                        if n:
                            counts[p] = n
                        else:
                            push(p)


# The Value counterpart of ops.FLOAT: derivatives evaluated with it record a graph.
_VALUE = SimpleNamespace(
    exp=Value.exp,
    log=Value.log,
    sqrt=Value.sqrt,
    sin=Value.sin,
    cos=Value.cos,
    tanh=Value.tanh,
    sigmoid=Value.sigmoid,
    relu=Value.relu,
    abs=abs,
    value=lambda v: v.data,
)


def _consumer_counts(root: Value) -> dict[Value, int]:
    """Count, for each interior node below ``root``, the edges from nodes that consume it.

    A node is ready for ``backward()`` once all its consumers have passed their gradient on
    (Kahn's algorithm), which orders the graph without recursion. Interior gradients are
    reset here: they hold the latest pass only.
    """
    counts: dict[Value, int] = {}
    get = counts.get
    stack = [root]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        arity = node._op.arity  # type: ignore[union-attr]  # only interior nodes are pushed
        inputs = (node._a,) if arity == 1 else (node._a, node._b) if arity == 2 else node._a
        for p in inputs:
            if p._op is None:
                continue  # leaves need no ordering: they only receive gradient
            n = get(p)
            if n is None:
                counts[p] = 1
                p.grad = 0.0
                push(p)
            else:
                counts[p] = n + 1
    return counts
