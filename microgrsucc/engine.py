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
import math
import numbers
import reprlib
import threading
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, SupportsFloat, TypeVar, Union

from microgrsucc import ops
from microgrsucc.ops import Primitive

__all__ = [
    "Operand",
    "Value",
    "apply",
    "backward_order",
    "detect_anomaly",
    "enable_grad",
    "gradients",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
    "zero_grad",
]

Operand = Union["Value", SupportsFloat]
"""A Value or a plain real number (int, float, Fraction, numpy scalar, ...)."""

_F = TypeVar("_F", bound=Callable[..., Any])


# --- modes: no_grad(), enable_grad(), set_grad_enabled() and detect_anomaly() ---------------
# Each thread has its own modes. _modes counts the threads whose modes are not the defaults
# (grad on, no anomaly check), so the common case costs each op one global read instead of
# a thread-local lookup.

_state = threading.local()
_modes = 0
_modes_lock = threading.Lock()


def _set_modes(grad_enabled: bool, anomaly: int) -> None:
    global _modes
    was_default = getattr(_state, "grad_enabled", True) and not getattr(_state, "anomaly", 0)
    _state.grad_enabled = grad_enabled
    _state.anomaly = anomaly
    now_default = grad_enabled and not anomaly
    if was_default != now_default:
        with _modes_lock:
            _modes += 1 if was_default else -1


class _Mode:
    """A per-thread switch usable as a context manager or a decorator, bare or called.

    Each ``with`` block restores, on exit, the modes it found on entry.
    """

    _saved: list[tuple[bool, int]]

    def __new__(cls, fn: Any = None) -> Any:
        self = super().__new__(cls)
        self._saved = []  # one entry per open block, so one instance can nest and recurse
        return self if fn is None else self(fn)

    def _enter(self) -> tuple[bool, int]:
        raise NotImplementedError

    def __enter__(self) -> None:
        saved = (getattr(_state, "grad_enabled", True), getattr(_state, "anomaly", 0))
        self._saved.append(saved)
        _set_modes(*self._enter())

    def __exit__(self, *exc_info: object) -> None:
        _set_modes(*self._saved.pop())

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_Mode):
    """Ops record no graph in this thread while it is open (as ``torch.no_grad``).

    Also a decorator, bare (``@no_grad``) or called (``@no_grad()``). Transforms, ``gradients``
    and ``backward(create_graph=True)`` record what they need all the same.

    >>> x = Value(2.0)
    >>> with no_grad():
    ...     y = x * x
    >>> y.data, y.is_leaf
    (4.0, True)
    """

    def _enter(self) -> tuple[bool, int]:
        return False, getattr(_state, "anomaly", 0)


class enable_grad(_Mode):
    """Ops record their graph again inside ``no_grad()`` (as ``torch.enable_grad``)."""

    def _enter(self) -> tuple[bool, int]:
        return True, getattr(_state, "anomaly", 0)


class set_grad_enabled(_Mode):
    """Turn recording on or off in this thread (as ``torch.set_grad_enabled``).

    Called, it switches at once; used with ``with``, the previous mode comes back on exit.

    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    """

    _mode: bool

    def __new__(cls, mode: bool) -> Any:
        self = super().__new__(cls)
        self._mode = bool(mode)
        # As in torch, the call itself switches; the with block only restores on exit.
        self._saved.append((getattr(_state, "grad_enabled", True), getattr(_state, "anomaly", 0)))
        _set_modes(self._mode, getattr(_state, "anomaly", 0))
        return self

    def _enter(self) -> tuple[bool, int]:
        return self._mode, getattr(_state, "anomaly", 0)

    def __enter__(self) -> None:
        pass  # the call has switched already; __exit__ restores what it found

    def __call__(self, fn: _F) -> _F:
        raise TypeError("set_grad_enabled is a context manager or a call, not a decorator")


class detect_anomaly(_Mode):
    """Raise ``FloatingPointError`` at the first op whose value or gradient is NaN or infinite.

    The message names the op and its inputs. Slower; for finding where a NaN comes from.
    """

    def _enter(self) -> tuple[bool, int]:
        return getattr(_state, "grad_enabled", True), getattr(_state, "anomaly", 0) + 1


class _Tracing:
    """While open, ``float()`` and friends refuse Values that depend on ``nodes`` (this thread)."""

    def __init__(self, nodes: Sequence[Value]) -> None:
        self.nodes = nodes

    def __enter__(self) -> None:
        traced = getattr(_state, "traced", None)
        if traced is None:
            traced = _state.traced = []
        traced.extend(self.nodes)

    def __exit__(self, *exc_info: object) -> None:
        del _state.traced[len(_state.traced) - len(self.nodes) :]


def is_grad_enabled() -> bool:
    """False inside ``no_grad()`` in the current thread."""
    return bool(getattr(_state, "grad_enabled", True))


def _after_op(out: Value) -> None:
    """The slow path of recording an op, taken only while some thread has a mode set."""
    if getattr(_state, "anomaly", 0) and not math.isfinite(out.data):
        raise FloatingPointError(f"{_call(out._op, _operands(out))} produced {out.data}")  # type: ignore[arg-type]
    if not getattr(_state, "grad_enabled", True):
        out._op = out._a = out._b = out._xa = out._xb = None


# --- recording ops ---------------------------------------------------------------------------
# Each op becomes one function, made once per primitive (not per node), that computes the
# forward and records the node. They are the Value methods; apply() makes them for new ops.
# _unary and _binary spell the node's fields out rather than share a helper: one Python call
# per op is the budget (a shared helper would cost about 6% of a training step).

_new = object.__new__


def _leaf(data: float) -> Value:
    out: Value = _new(Value)
    out.data = data
    out.grad = 0.0
    out.label = None
    out._op = out._a = out._b = out._xa = out._xb = None
    out._pending = 0
    return out


def _unary(op: Primitive) -> Callable[[Value], Value]:
    forward = op.forward

    def apply(x: Value) -> Value:
        xd = x.data
        try:
            data = forward(xd)
        except (ArithmeticError, ValueError) as err:
            raise _op_error(op, err, xd) from None
        out: Value = _new(Value)
        out.data = data
        out.grad = 0.0
        out.label = None
        out._op = op
        out._a = x
        out._b = None
        out._xa = xd
        out._xb = None
        out._pending = 0
        if _modes:
            _after_op(out)
        return out

    apply.__name__ = apply.__qualname__ = op.name
    apply.__doc__ = f"Apply the primitive ``{op.name}`` (see microgrsucc.ops)."
    return apply


def _binary(op: Primitive) -> Callable[[Value, Operand], Value]:
    forward = op.forward

    def apply(x: Value, y: Any) -> Value:
        if y.__class__ is not Value:
            y = _constant(y)
            if y is NotImplemented:
                return NotImplemented  # type: ignore[no-any-return]  # Python then raises TypeError
        xd = x.data
        yd = y.data
        try:
            data = forward(xd, yd)
        except (ArithmeticError, ValueError) as err:
            raise _op_error(op, err, xd, yd) from None
        out: Value = _new(Value)
        out.data = data
        out.grad = 0.0
        out.label = None
        out._op = op
        out._a = x
        out._b = y
        out._xa = xd
        out._xb = yd
        out._pending = 0
        if _modes:
            _after_op(out)
        return out

    apply.__name__ = apply.__qualname__ = op.name
    apply.__doc__ = f"Apply the primitive ``{op.name}`` (see microgrsucc.ops)."
    return apply


def _reflected(apply: Callable[[Value, Operand], Value]) -> Callable[[Value, Operand], Value]:
    """``number OP value``: the number becomes a leaf on the left."""

    def rapply(self: Value, other: Operand) -> Value:
        left = _constant(other)
        return left if left is NotImplemented else apply(left, self)

    return rapply


def _nary(op: Primitive) -> Callable[..., Value]:
    def apply(*inputs: Value) -> Value:
        primals = tuple(x.data for x in inputs)
        try:
            data = op.forward(*primals)
        except (ArithmeticError, ValueError) as err:
            raise _op_error(op, err, *primals) from None
        out = _leaf(data)
        out._op = op
        out._a = inputs
        out._xa = primals
        if _modes:
            _after_op(out)
        return out

    return apply


def apply(op: Primitive) -> Callable[..., Value]:
    """The function that applies ``op`` to Values or numbers and records the node.

    This is how an op is added: describe it with a ``Primitive`` (forward and derivative,
    see ``microgrsucc.ops``) and call the function returned here; ``backward()`` needs
    nothing more.

    >>> cube = apply(ops.Primitive("cube", 1, lambda x: x**3, lambda F, x, out: 3 * x * x))
    >>> x = Value(2.0)
    >>> y = cube(x)
    >>> y.backward()
    >>> y.data, x.grad
    (8.0, 12.0)
    """
    record = _unary(op) if op.arity == 1 else _binary(op) if op.arity == 2 else _nary(op)

    def applied(*inputs: Operand) -> Value:
        if len(inputs) != op.arity:
            raise TypeError(f"{op.name} takes {op.arity} operand(s), got {len(inputs)}")
        return record(*[x if isinstance(x, Value) else _leaf(_to_float(x, op.name)) for x in inputs])

    applied.__name__ = applied.__qualname__ = op.name
    return applied


_pow = _binary(ops.pow)


@functools.lru_cache(maxsize=256)
def _pow_by(exponent: float) -> Callable[[Value], Value]:
    return _unary(ops.pow_const(exponent))


def _call(op: Primitive, operands: Sequence[float]) -> str:
    """How an error shows an op applied to its operands: ``log(-1.0)``, ``1.0 / 0.0``."""
    shown = [reprlib.repr(x) for x in operands]
    if op.name.isidentifier():
        return f"{op.name}({', '.join(shown)})"
    if len(shown) == 1:
        return f"{shown[0]} {op.name}"  # a constant power such as "**0.5"
    return f" {op.name} ".join(shown)


def _operands(node: Value) -> list[float]:
    return [x.data for x in node.inputs]


def _op_error(op: Primitive, err: Exception, *operands: float) -> Exception:
    """The same kind of error, naming the op and its operands: ``log(-1.0): the operand must be > 0``."""
    if isinstance(err, OverflowError):
        reason = "the result is too large for a float"
    elif isinstance(err, ZeroDivisionError) and str(err) in ("float division by zero", "division by zero"):
        reason = "division by zero"
    else:
        reason = str(err)
    return type(err)(f"{_call(op, operands)}: {reason}")


def _to_float(x: object, where: str) -> float:
    """A real number as a float; ``TypeError`` naming the type for anything else."""
    if isinstance(x, float) and x.__class__ is float:
        return x
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


# --- the node ----------------------------------------------------------------------------------


class Value:
    """A scalar node of a computation graph.

    ``data`` is the node's value (always a float); after ``root.backward()``, ``grad`` is
    d(root)/d(this node).

    >>> x = Value(3.0, label="x")
    >>> y = x * x + 1
    >>> y.backward()
    >>> y.data, x.grad
    (10.0, 6.0)
    """

    __slots__ = ("data", "grad", "label", "_op", "_a", "_b", "_xa", "_xb", "_pending")
    # Lets numpy scalars on the left defer to our reflected operators (np.float64(2) * v).
    __array_ufunc__ = None

    data: float
    grad: Any  # a float; a Value after backward(create_graph=True)
    label: str | None
    _op: Primitive | None  # None for a leaf
    _a: Any  # first input; for ops of three or more inputs, the tuple of all inputs
    _b: Any  # second input of a binary op, else None
    # The inputs' values when the op ran: backward() differentiates at these, so a leaf
    # changed since (an optimizer step) cannot mix two states in one gradient.
    _xa: Any  # the first input's value; for ops of three or more inputs, all of them
    _xb: Any  # the second input's value of a binary op, else None
    _pending: int  # during backward(): consumer edges whose gradient has not arrived yet

    def __init__(self, data: SupportsFloat, label: str | None = None) -> None:
        self.data = _to_float(data, "Value")
        self.grad = 0.0
        self.label = label
        self._op = self._a = self._b = self._xa = self._xb = None
        self._pending = 0

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

    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(input) for each input, at the recorded values, from the op table.

        Empty for a leaf. These are the factors the chain rule multiplies along each edge.

        >>> x, y = Value(2.0), Value(5.0)
        >>> (x * y).local_grads()
        (5.0, 2.0)
        """
        op = self._op
        if op is None:
            return ()
        d = op.derivative if op.constant else op.derivative(ops.FLOAT, *_recorded(self), self.data)
        partials = (d,) if op.arity == 1 else tuple(d)
        return tuple(float(p.data if isinstance(p, Value) else p) for p in partials)

    def item(self) -> float:
        """The plain float value, as ``torch.Tensor.item()``; refused on a traced value (see ``float``)."""
        if getattr(_state, "traced", None):
            _refuse_concrete(self, "item()")
        return self.data

    def __float__(self) -> float:
        # Inside grad() and the other transforms a float would cut the value from the graph
        # and lose its derivative without a word (math.sin(x)), so it is refused, as JAX
        # refuses to turn a tracer into a number.
        if getattr(_state, "traced", None):
            _refuse_concrete(self, "float()")
        return self.data

    def __int__(self) -> int:
        if getattr(_state, "traced", None):
            _refuse_concrete(self, "int()")
        return int(self.data)

    def __round__(self, ndigits: int | None = None) -> float | int:
        if getattr(_state, "traced", None):
            _refuse_concrete(self, "round()")
        return round(self.data, ndigits)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats ``.data``; an empty spec gives the repr."""
        return format(self.data, spec) if spec else repr(self)

    # Comparisons give plain bools (not numpy's, for a numpy scalar on the other side), as in
    # PyTorch: they branch, they are not differentiable.
    # == and hash stay by identity, so Values are dict and set keys.

    def __lt__(self, other: Operand) -> bool:
        o = _compared(other)
        return NotImplemented if o is NotImplemented else bool(self.data < o)

    def __le__(self, other: Operand) -> bool:
        o = _compared(other)
        return NotImplemented if o is NotImplemented else bool(self.data <= o)

    def __gt__(self, other: Operand) -> bool:
        o = _compared(other)
        return NotImplemented if o is NotImplemented else bool(self.data > o)

    def __ge__(self, other: Operand) -> bool:
        o = _compared(other)
        return NotImplemented if o is NotImplemented else bool(self.data >= o)

    def __repr__(self) -> str:
        label = "" if self.label is None else f", label={self.label!r}"
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    # --- ops: each applies one primitive from ops.py ------------------------------------------

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

    # --- pickling: iterative, so a graph of any depth pickles at the default recursion limit -

    def __reduce__(self) -> tuple[Any, ...]:
        if self._op is None:  # leaves go through pickle's memo, so shared parameters stay shared
            return (_new_node, (self.__class__,), _slot_state(self))
        nodes = _postorder(self)
        index = {node: i for i, node in enumerate(nodes)}
        spec = [(node._op, [index.get(p, p) for p in node.inputs], node.data, node.label) for node in nodes]
        # The gradients come as state, after the nodes exist: a gradient from
        # create_graph=True is a graph that may lead back to these nodes.
        return (_rebuild, (spec,), {"grads": [node.grad for node in nodes]})

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "grads" in state:
            for node, g in zip(_postorder(self), state["grads"], strict=True):
                node.grad = g
        else:
            for name, x in state.items():
                setattr(self, name, x)

    # --- gradients ----------------------------------------------------------------------------

    def detach(self) -> Value:
        """A new leaf with the same value, cut from the graph (as ``torch.Tensor.detach``)."""
        return _leaf(self.data)

    def backward(
        self, gradient: Any = 1.0, *, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Set every node's ``grad`` below this one to d(self)/d(node), times ``gradient``.

        Leaf gradients accumulate across calls, as in PyTorch, until zeroed
        (``zero_grad``); gradients of interior nodes hold the latest pass only. With
        ``create_graph=True`` the gradients are Values with graphs of their own, so they
        can be differentiated again; the gradient graph is recorded even inside
        ``no_grad()``. ``retain_graph`` is accepted for PyTorch code and ignored: graphs are
        always kept. Derivatives are taken at the values the forward pass saw, so a leaf
        changed since (an optimizer step) does not mix two states into one gradient.
        """
        if not isinstance(gradient, Value):
            gradient = _to_float(gradient, "backward(gradient)")
        if self._op is None:
            self.grad = self.grad + gradient
            return
        try:
            _count_consumers(self)
            self.grad = gradient
            if create_graph:  # the gradient graph is recorded whatever mode the caller is in
                with enable_grad():
                    _propagate(self, True, bool(getattr(_state, "anomaly", 0)))
            else:
                _propagate(self, False, bool(_modes and getattr(_state, "anomaly", 0)))
        except BaseException:
            for node in _below(self):  # leave no half-counted node behind for the next pass
                node._pending = 0
                if node.grad is None:
                    node.grad = 0.0
            raise


def _compared(other: object) -> Any:
    if isinstance(other, Value):
        return other.data
    if isinstance(other, bool) or not isinstance(other, (numbers.Real, Decimal)):
        return NotImplemented
    return other


def _refuse_concrete(v: Value, how: str) -> None:
    """TypeError for a Value that depends on a transform's input being made a number."""
    traced = set(_state.traced)
    seen = {v}
    stack = [v]
    while stack:
        node = stack.pop()
        if node in traced:
            raise TypeError(
                f"{how} of a Value that depends on the input of grad/value_and_grad/hessian/jvp "
                f"(data={v.data!r}) would cut it from the graph and lose its derivative; use "
                "the Value ops instead (microgrsucc.sin(x) or x.sin() for math.sin(x)), or "
                "read .data where a constant is meant"
            )
        for p in node.inputs:
            if p not in seen:
                seen.add(p)
                stack.append(p)


def _new_node(cls: type[Value]) -> Value:
    out = _leaf(0.0)
    if cls is not Value:
        out = _new(cls)
        out._op = out._a = out._b = out._xa = out._xb = None
        out._pending = 0
    return out


def _slot_state(v: Value) -> dict[str, Any]:
    names = [n for c in type(v).__mro__ for n in getattr(c, "__slots__", ())]
    skip = {"_op", "_a", "_b", "_xa", "_xb", "_pending"}
    return {n: getattr(v, n) for n in names if n not in skip and hasattr(v, n)}


def _postorder(root: Value) -> list[Value]:
    """The interior nodes below ``root``, each after its inputs, ``root`` last; iterative."""
    order: list[Value] = []
    done: set[Value] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
            continue
        stack.append((node, True))
        for p in reversed(node.inputs):
            if p._op is not None and p not in done:
                stack.append((p, False))
    return order


def _rebuild(spec: list[tuple[Primitive, list[Any], float, str | None]]) -> Value:
    """The inverse of ``Value.__reduce__``: nodes from (op, inputs, data, label), inputs first."""
    nodes: list[Value] = []
    for op, refs, data, label in spec:
        inputs = [nodes[r] if isinstance(r, int) else r for r in refs]
        out = _leaf(data)
        out.label = label
        out._op = op
        recorded = tuple(x.data for x in inputs)
        if op.arity == 1:
            out._a, out._xa = inputs[0], recorded[0]
        elif op.arity == 2:
            out._a, out._b = inputs
            out._xa, out._xb = recorded
        else:
            out._a, out._xa = tuple(inputs), recorded
        nodes.append(out)
    return nodes[-1]


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
    value=lambda v: v.data if isinstance(v, Value) else v,  # constants of an op stay numbers
)


# --- backward ----------------------------------------------------------------------------------


def _count_consumers(root: Value) -> None:
    """Set ``_pending`` of every interior node below ``root`` to its number of consumer edges.

    A node is ready to pass its gradient on once all of them have arrived (Kahn's
    algorithm), which orders the graph without recursion. Interior gradients are reset
    here, since they hold the latest pass only: to None, so that the first gradient to
    arrive is stored rather than added to 0.0. Leaves need no count: they only receive.
    """
    stack = [root]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        arity = node._op.arity  # type: ignore[union-attr]  # only interior nodes are pushed
        a = node._a
        if arity == 2:  # unrolled for one and two inputs: this loop is half of backward()
            b = node._b
            if b._op is not None:
                n = b._pending
                if not n:
                    b.grad = None
                    push(b)
                b._pending = n + 1
        elif arity > 2:
            for p in a:
                if p._op is not None:
                    n = p._pending
                    if not n:
                        p.grad = None
                        push(p)
                    p._pending = n + 1
            continue
        if a._op is not None:
            n = a._pending
            if not n:
                a.grad = None
                push(a)
            a._pending = n + 1


def _propagate(root: Value, create_graph: bool, check: bool) -> None:
    """Pass gradients from ``root`` down, each node once all its consumers have reported."""
    F = _VALUE if create_graph else ops.FLOAT
    ready = [root]
    pop, push = ready.pop, ready.append
    while ready:
        node = pop()
        op: Primitive = node._op  # type: ignore[assignment]
        g = node.grad
        arity = op.arity
        a = node._a
        if arity == 1:
            if op.constant:
                d = op.derivative
            elif create_graph:
                _check_unchanged(node, (a,), (node._xa,))
                d = op.derivative(F, a, node)
            else:
                d = op.derivative(F, node._xa, node.data)
            ga = a.grad
            a.grad = g * d if ga is None else ga + g * d
            if check:
                _check_gradients(node, (a,))
            if a._op is not None:
                a._pending = n = a._pending - 1
                if not n:
                    push(a)
        elif arity == 2:
            b = node._b
            if op.constant:
                da, db = op.derivative
            elif create_graph:
                _check_unchanged(node, (a, b), (node._xa, node._xb))
                da, db = op.derivative(F, a, b, node)
            else:
                da, db = op.derivative(F, node._xa, node._xb, node.data)
            ga = a.grad
            a.grad = g * da if ga is None else ga + g * da
            gb = b.grad  # read after a's update: b may be a
            b.grad = g * db if gb is None else gb + g * db
            if check:
                _check_gradients(node, (a, b))
            # x * x counts two edges on x, so x waits for both.
            if a._op is not None:
                a._pending = n = a._pending - 1
                if not n:
                    push(a)
            if b._op is not None:
                b._pending = n = b._pending - 1
                if not n:
                    push(b)
        else:
            if op.constant:
                partials = op.derivative
            elif create_graph:
                _check_unchanged(node, a, node._xa)
                partials = op.derivative(F, *a, node)
            else:
                partials = op.derivative(F, *node._xa, node.data)
            for p, d in zip(a, partials, strict=True):
                gp = p.grad
                p.grad = g * d if gp is None else gp + g * d
            if check:
                _check_gradients(node, a)
            for p in a:
                if p._op is not None:
                    p._pending = n = p._pending - 1
                    if not n:
                        push(p)


def _check_unchanged(node: Value, inputs: Sequence[Value], recorded: Sequence[float]) -> None:
    """A gradient graph is built from the inputs themselves, so they must hold the values the
    op saw; a plain backward() needs no check, since it reads the recorded values."""
    for i, (x, then) in enumerate(zip(inputs, recorded, strict=True)):
        if x.data is not then and x.data != then and not (x.data != x.data and then != then):
            name = "" if x.label is None else f" ({x.label})"
            raise RuntimeError(
                f"backward(create_graph=True): operand {i}{name} of {_call(node._op, recorded)} "  # type: ignore[arg-type]
                f"was changed to {x.data!r} after the forward pass; recompute the graph from it"
            )


def _check_gradients(node: Value, inputs: Iterable[Value]) -> None:
    for i, x in enumerate(inputs):
        _check_gradient(node, i, x.grad)


def _check_gradient(node: Value, i: int, g: Any) -> None:
    g = g.data if isinstance(g, Value) else g
    if not math.isfinite(g):
        where = _call(node._op, _recorded(node))  # type: ignore[arg-type]
        raise FloatingPointError(f"the gradient of {where} for operand {i} is {g}")


def gradients(root: Value, inputs: Any, gradient: Any = 1.0, *, create_graph: bool = False) -> Any:
    """d(root)/d(x) for each x in ``inputs`` (a list; a single Value gives a single gradient).

    Like ``torch.autograd.grad``: the building block of functional transforms. It reads and
    writes no ``.grad``: the gradients live in storage of its own, so it is safe beside a
    ``backward()`` running on shared parameters in another thread. Inputs the root does not
    depend on get 0.0. It records the gradient graph for ``create_graph=True`` even inside
    ``no_grad()``.

    >>> x = Value(3.0)
    >>> gradients(x * x, x), x.grad
    (6.0, 0.0)
    """
    if isinstance(inputs, Value):
        return gradients(root, [inputs], gradient, create_graph=create_graph)[0]
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"gradients: input {i} must be a Value, got {type(x).__name__}")
    if not isinstance(root, Value):
        raise TypeError(f"gradients: the root must be a Value, got {type(root).__name__}")
    if not isinstance(gradient, Value):
        gradient = _to_float(gradient, "gradients(gradient)")
    if create_graph:
        with enable_grad():
            grads = _backward_into(root, gradient, create_graph, bool(getattr(_state, "anomaly", 0)))
    else:
        grads = _backward_into(root, gradient, create_graph, bool(_modes and getattr(_state, "anomaly", 0)))
    return [grads.get(x, 0.0) for x in inputs]


def _backward_into(root: Value, gradient: Any, create_graph: bool, check: bool) -> dict[Value, Any]:
    """The same pass as ``backward()``, into a dict instead of the nodes' fields.

    Written once, without backward()'s per-arity unrolling: transforms are not the hot path.
    """
    pending: dict[Value, int] = {}
    stack = [root]
    while stack:
        for p in stack.pop().inputs:
            if p._op is not None:
                if p not in pending:
                    pending[p] = 0
                    stack.append(p)
                pending[p] += 1
    F = _VALUE if create_graph else ops.FLOAT
    grads: dict[Value, Any] = {root: gradient}
    ready = [root] if root._op is not None else []
    while ready:
        node = ready.pop()
        op: Primitive = node._op  # type: ignore[assignment]
        inputs = node.inputs
        recorded = _recorded(node)
        if op.constant:
            d = op.derivative
        elif create_graph:
            _check_unchanged(node, inputs, recorded)
            d = op.derivative(F, *inputs, node)
        else:
            d = op.derivative(F, *recorded, node.data)
        partials = (d,) if op.arity == 1 else d
        g = grads[node]
        for i, (p, dp) in enumerate(zip(inputs, partials, strict=True)):
            gp = grads.get(p)
            grads[p] = g * dp if gp is None else gp + g * dp
            if check:
                _check_gradient(node, i, grads[p])
        for p in inputs:
            if p._op is not None:
                pending[p] -= 1
                if not pending[p]:
                    ready.append(p)
    return grads


def _recorded(node: Value) -> tuple[float, ...]:
    """The values the node's op saw, in operand order."""
    arity = node._op.arity  # type: ignore[union-attr]
    return (node._xa,) if arity == 1 else (node._xa, node._xb) if arity == 2 else node._xa


def backward_order(root: Value) -> list[Value]:
    """The interior nodes below ``root`` in the order ``backward()`` passes their gradients on.

    Each node comes after all of its consumers (a reverse topological order), exactly as
    the propagation loop pops them; for pictures that replay the backward pass step by step.
    """
    pending: dict[Value, int] = {}
    stack = [root] if root._op is not None else []
    while stack:
        for p in stack.pop().inputs:
            if p._op is not None:
                if p not in pending:
                    pending[p] = 0
                    stack.append(p)
                pending[p] += 1
    order: list[Value] = []
    ready = [root] if root._op is not None else []
    while ready:
        node = ready.pop()
        order.append(node)
        for p in node.inputs:
            if p._op is not None:
                pending[p] -= 1
                if not pending[p]:
                    ready.append(p)
    return order


def _below(root: Value) -> set[Value]:
    """Every node of the graph below ``root``, ``root`` included."""
    seen = {root}
    stack = [root]
    while stack:
        for p in stack.pop().inputs:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def zero_grad(values: Value | Iterable[Value]) -> None:
    """Set the ``grad`` of a Value, or of each Value, to 0.0 (leaf gradients otherwise accumulate)."""
    for v in (values,) if isinstance(values, Value) else values:
        v.grad = 0.0
