"""``Value``, the node of a computation graph.

Applying an op records a node that points at the ``Primitive`` (``microgrsucc/ops/``), at its inputs,
at their values and at its own value; ``backward()`` hands the graph to ``backward.py``. The
op methods (``x.exp()``, ``x + y``, ``x ** 2``) are made by ``recording.py`` from
``ops.PRIMITIVES`` at import time.

Nodes are cheap on purpose: ``__slots__``, no per-node closure and no reference back from an
input to its output, so a graph that is dropped is freed at once by reference counting.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar, SupportsFloat, Union

from microgrsucc import backward as reverse
from microgrsucc import ops, pickling
from microgrsucc.core import check_label, is_real, modes_set, recording_gradients, state, to_float
from microgrsucc.ops import Primitive

if TYPE_CHECKING:
    from microgrsucc.declarations import OpMethods
else:
    OpMethods = object  # the methods themselves are made by recording.install_ops()

__all__ = ["VALUE", "Operand", "Value", "as_value", "check_has_graph", "computed_without_graph"]

Operand = Union["Value", SupportsFloat]  # a Value or a real number (int, float, Fraction, numpy scalar)

_new = object.__new__


class Value(OpMethods):
    """A scalar node of a computation graph.

    ``data`` is the node's value (always a float); after ``root.backward()``, ``grad`` is
    d(root)/d(this node). Before that, ``grad`` is None (no gradient yet), as in PyTorch.

    >>> x = Value(3.0, label="x")
    >>> y = x * x + 1
    >>> y.backward()
    >>> y.data, x.grad
    (10.0, 6.0)
    """

    __slots__ = ("data", "grad", "label", "_op", "_a", "_b", "_xa", "_xb", "_out", "_pending")
    # Lets numpy scalars on the left defer to our reflected operators (np.float64(2) * v).
    __array_ufunc__ = None
    # A subclass whose nodes carry more than a value (forward mode's Dual, the compiler's
    # Tracer) sets this: a plain Value's method of two operands then hands the op to it, as
    # Python's operators hand ``c + dual`` to ``Dual.__radd__``.
    owns_ops: ClassVar[bool] = False

    data: float
    grad: Any  # None until a backward() reaches it; a float, or a Value after create_graph=True
    label: str | None
    _op: Primitive | None  # None for a leaf
    _a: Any  # first input; for ops of three or more inputs, the tuple of all inputs
    _b: Any  # second input of a binary op, else None
    # The inputs' and the output's values when the op ran: backward() differentiates at
    # these, so a leaf changed since (an optimizer step), or an output's .data changed in
    # place (under no_grad), cannot mix two states in one gradient.
    _xa: Any  # the first input's value; for ops of three or more inputs, all of them.
    # On a leaf: None if the user made it, the Primitive if an op computed it under no_grad().
    _xb: Any  # the second input's value of a binary op, else None
    _out: Any  # the output's value on an interior node, else None
    _pending: int  # during backward(): consumer edges whose gradient has not arrived yet

    def __init__(self, data: SupportsFloat, label: str | None = None) -> None:
        self.data = to_float(data, "Value")
        self.grad = None
        self.label = check_label(label)
        self._op = self._a = self._b = self._xa = self._xb = self._out = None
        self._pending = 0

    # --- inspection ----------------------------------------------------------------------------

    @property
    def primitive(self) -> Primitive | None:
        """The table's entry (``ops.Primitive``) that produced this node, or None for a leaf."""
        return self._op

    @property
    def op(self) -> str | None:
        """The name of the op that produced this node (``"*"``, ``"tanh"``, ...), or None for a leaf."""
        return None if self._op is None else self._op.name

    @property
    def inputs(self) -> tuple[Value, ...]:
        """The nodes this one was computed from, in operand order (empty for a leaf)."""
        op = self._op
        if op is None or op.arity > 2:
            return () if op is None else tuple(self._a)
        return (self._a,) if op.arity == 1 else (self._a, self._b)

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
        return reverse.local_grads(self)

    def __repr__(self) -> str:
        label = "" if self.label is None else f", label={self.label!r}"
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    # --- conversions: inside a transform a float would cut the value from the graph and lose
    # its derivative without a word (math.sin(x)), so it is refused, as JAX refuses to turn a
    # tracer into a number. Reading .data is the way to say a constant is meant.

    def item(self) -> float:
        """The plain float value, as ``torch.Tensor.item()``."""
        if state.traced:
            _refuse_concrete(self, "item()")
        return self.data

    # Outside a transform, float() of a Value that may carry a gradient warns, as torch does
    # for a tensor that requires grad: math.sin(x) would silently drop d/dx.

    def __float__(self) -> float:
        if state.traced:
            _refuse_concrete(self, "float()")
        elif not computed_without_graph(self):
            _warn_conversion(self, "float()")
        return self.data

    def __int__(self) -> int:
        if state.traced:
            _refuse_concrete(self, "int()")
        elif not computed_without_graph(self):
            _warn_conversion(self, "int()")
        return int(self.data)

    def __round__(self, ndigits: int | None = None) -> float | int:
        if state.traced:
            _refuse_concrete(self, "round()")
        return round(self.data, ndigits)

    def __bool__(self) -> bool:  # data != 0, as bool(tensor): `if loss:` is false for a zero loss
        return bool(self.data)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats ``.data``; an empty spec gives the repr.

        Inside a transform, formatting a traced Value is refused as ``float()`` is: the
        text would be read back as a constant (``float(f"{x:.17g}")``)."""
        if spec and state.traced:
            _refuse_concrete(self, f"format(..., {spec!r})")
        return format(self.data, spec) if spec else repr(self)

    # Comparisons give plain bools, as in PyTorch: they branch, they are not differentiable.
    # == and hash stay by identity, so Values are dict and set keys.

    def __lt__(self, other: Operand) -> bool:
        return _compare(operator.lt, self, other)

    def __le__(self, other: Operand) -> bool:
        return _compare(operator.le, self, other)

    def __gt__(self, other: Operand) -> bool:
        return _compare(operator.gt, self, other)

    def __ge__(self, other: Operand) -> bool:
        return _compare(operator.ge, self, other)

    def __pos__(self) -> Value:
        return self

    # --- in place: under no_grad() (the optimizer idiom ``p -= lr * p.grad``), a Value's
    # .data changes in place, as a tensor's does, for leaves and op results alike; a graph
    # already recorded still differentiates at the values its forward pass saw. With grad
    # recording on, ``x += y`` builds a node, as ``x = x + y`` does.

    def __iadd__(self, other: Operand) -> Value:
        return _in_place(self, other, "__add__")

    def __isub__(self, other: Operand) -> Value:
        return _in_place(self, other, "__sub__")

    def __imul__(self, other: Operand) -> Value:
        return _in_place(self, other, "__mul__")

    def __itruediv__(self, other: Operand) -> Value:
        return _in_place(self, other, "__truediv__")

    def __ipow__(self, other: Operand) -> Value:
        return _in_place(self, other, "__pow__")

    # --- pickling and copy.deepcopy: one pickle keeps shared nodes shared, iteratively, so a
    # graph of any depth pickles at the default recursion limit
    def __reduce__(self) -> tuple[Any, ...]:
        if state.traced:
            _refuse_concrete(self, "pickle or copy.deepcopy")
        return pickling.reduce(self)

    def __setstate__(self, saved: Any) -> None:
        pickling.set_state(self, saved)

    def __copy__(self) -> Value:
        """A new node with the same fields: the same inputs, op and recorded values."""
        out = _new(type(self))
        for name in ("data", "grad", "label", "_op", "_a", "_b", "_xa", "_xb", "_out", "_pending"):
            setattr(out, name, getattr(self, name, None))
        if hasattr(self, "tangent"):  # a Dual
            out.tangent = self.tangent  # type: ignore[attr-defined]
        out._pending = 0
        return out

    # --- gradients
    def detach(self) -> Value:
        """A new leaf with the same value, cut from the graph (as ``torch.Tensor.detach``)."""
        return _leaf(self.data)

    def backward(
        self, gradient: Any = 1.0, *, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Set every node's ``grad`` below this one to d(self)/d(node), times ``gradient``.

        Leaf gradients accumulate across calls, as in PyTorch, until zeroed (``zero_grad``);
        interior ones hold the latest pass. Derivatives are taken at the values the forward
        pass saw, inputs and outputs alike, so a leaf changed since (an optimizer step) or a
        ``.data`` edited in place mixes no two states (docs/semantics.md).

        Args:
            gradient: d(loss)/d(self), the factor every gradient is multiplied by (a real
                number, or a Value, whose graph is followed only with ``create_graph``);
                1.0 gives plain derivatives.
            retain_graph: accepted for PyTorch's signature and ignored: graphs are kept.
            create_graph: if True, every gradient is a Value with its own graph (recorded
                even inside ``no_grad()``), so it can be differentiated again; where a
                gradient is constant, its own derivative is 0.

        Returns:
            None; the gradients are in the nodes' ``grad``.

        Raises:
            RuntimeError: this Value was computed under ``no_grad()`` (it has no graph;
                torch says it "does not require grad"), or, with ``create_graph=True``, a
                node's ``.data`` was changed after the forward pass.
            FloatingPointError: inside ``detect_anomaly()``, a gradient is NaN or infinite;
                the message names the op the user wrote, e.g. ``sqrt(0.0)``.
            TypeError: ``gradient`` is not a real number or a Value.

        >>> x = Value(3.0)
        >>> (x * x).backward()
        >>> x.grad
        6.0
        """
        if not isinstance(gradient, Value):
            gradient = to_float(gradient, "backward(gradient)")
            if create_graph:  # every gradient is then a Value, even through linear ops
                gradient = _leaf(gradient)
        elif not create_graph:  # its value only: no graph is recorded (torch's too)
            gradient = gradient.data
        if self._op is None:
            check_has_graph(self, "backward()")
            self.grad = gradient if self.grad is None else self.grad + gradient
            return
        try:
            reverse.count_consumers(self)
            self.grad = gradient
            if create_graph:
                # Anomalies are checked per node, on the gradients (check=...), so an error
                # names the op the user wrote, not a product the derivative is built from.
                check = bool(state.anomaly)
                with recording_gradients():
                    reverse.propagate(self, VALUE, check)
            else:
                reverse.propagate(self, ops.FLOAT, bool(modes_set[0] and state.anomaly))
        except BaseException:
            for node in reverse.below(self):  # leave no half-counted node behind for the next pass
                node._pending = 0
            raise


def _compare(test: Callable[[float, float], bool], v: Value, other: object) -> bool:
    o = other.data if isinstance(other, Value) else other if is_real(other) else NotImplemented
    return NotImplemented if o is NotImplemented else bool(test(v.data, o))  # type: ignore[arg-type]


def computed_without_graph(v: Value) -> bool:
    """An op's result computed under no_grad(), as opposed to a leaf the user made."""
    return v._op is None and isinstance(v._xa, Primitive)


def check_has_graph(root: Value, where: str) -> None:
    """RuntimeError for a root computed under no_grad(): differentiating it would give every
    input a gradient of 0 without a word (torch: "does not require grad")."""
    if computed_without_graph(root):
        raise RuntimeError(
            f"{where}: this Value (data={root.data!r}) was computed by {root._xa.name!r} under "
            "no_grad(), so it has no graph to differentiate (as torch says, it does not "
            "require grad); compute it with recording on"
        )


def _warn_conversion(v: Value, how: str) -> None:
    warnings.warn(
        f"{how} of a Value (data={v.data!r}) gives a plain number, cut from the graph: no "
        "gradient flows through it. Use .item() or .data where a number is meant, and "
        "microgrsucc.sin(x) (not math.sin(x)) for the op",
        UserWarning,
        stacklevel=3,
    )


def _in_place(v: Value, other: Any, method: str) -> Value:
    if state.grad_enabled or v.owns_ops:  # a Dual keeps its tangent: no in-place
        return getattr(v, method)(other)  # type: ignore[no-any-return]
    if isinstance(other, Value):
        other = other.data
    elif not is_real(other):
        return NotImplemented  # type: ignore[no-any-return]
    out = getattr(Value, method)(_leaf(v.data), other)  # the op's own checks and errors
    v.data = out.data
    return v


def _refuse_concrete(v: Value, how: str) -> None:
    """TypeError for a Value that depends on a transform's input being made a number or copied."""
    traced = set(state.traced)
    if any(node in traced for node in reverse.below(v)):
        if how.startswith("pickle"):  # a copy's graph starts from a copy of the input
            raise TypeError(
                f"{how} of a Value that depends on the input of grad/value_and_grad/hessian/jvp "
                f"(data={v.data!r}) would give a copy cut from that input, whose derivative is "
                "lost (torch refuses to deepcopy such a tensor too); use the Value itself"
            )
        raise TypeError(
            f"{how} of a Value that depends on the input of grad/value_and_grad/hessian/jvp "
            f"(data={v.data!r}) would cut it from the graph and lose its derivative; use "
            "the Value ops instead (microgrsucc.sin(x) or x.sin() for math.sin(x)), or "
            "read .data where a constant is meant"
        )


# --- leaves -------------------------------------------------------------------------------------


def _leaf(data: float, origin: Any = None) -> Value:
    out: Value = _new(Value)
    out.data = data
    out.grad = None
    out.label = None
    out._op = out._a = out._b = out._xb = out._out = None
    # What a leaf's _xa says: None, made by the user; as_value, made from a plain number
    # (explain.is_constant reads it); a Primitive, computed by that op under no_grad().
    out._xa = origin
    out._pending = 0
    return out


def as_value(x: object, where: str | None = None) -> Any:
    """A Value as it is, a number as a new leaf; else TypeError naming where, or NotImplemented."""
    if isinstance(x, Value):
        return x
    if x.__class__ is float:  # the common constant: nothing to check or convert
        return _leaf(x, as_value)
    if where is None and x.__class__ is not int and not is_real(x):
        return NotImplemented
    return _leaf(to_float(x, where or "operand"), as_value)


# The Value counterpart of ops.FLOAT: derivatives evaluated with it record a graph. Filled with
# the Value ops by recording.py once it has made them (as ops.FLOAT by functions.py).
VALUE = SimpleNamespace(value=lambda v: v.data if isinstance(v, Value) else v)  # constants stay numbers
