"""``FlatParameter``: parameters whose values and gradients live in two numpy arrays.

A model's parameters are Values, each holding a float ``data`` and ``grad``. A compiled step
over thousands of parameters spends more time reading ``p.data`` and writing ``p.grad`` one
by one (about 80 ns each) than computing, and an optimizer stepping them one by one more
still. ``FlatParameter(params)`` moves those numbers into two float64 arrays, ``flat.data``
and ``flat.grad``, and makes each Value a *view* of its element: ``p.data`` reads
``flat.data[i]``, ``p.grad = g`` writes ``flat.grad[i]``. Everything that works with Values
(eager ops, ``backward()``, per-Value optimizers, pictures, pickling) sees the same
numbers, while ``compile``'s steps read and write the arrays in one operation each and an
optimizer given ``flat`` (``optim.SGD(flat)``) updates them with array arithmetic.

The idea and the name are PyTorch's (FSDP's ``FlatParameter``: one flat tensor owning the
storage its original parameters become views into). What differs from a tensor: a view's
``grad`` is None until something writes it, element by element, as a Value's is; that is
what ``has_grad`` records.

>>> import microgrsucc as mg
>>> w, b = mg.Value(2.0), mg.Value(0.5)
>>> flat = FlatParameter([w, b])
>>> (w * 3.0 + b).backward()
>>> flat.grad.tolist(), flat.has_grad.tolist()
([3.0, 1.0], [True, True])
>>> flat.data -= 0.1 * flat.grad  # an SGD step on the arrays...
>>> w.data, b.data  # ...is seen through the Values
(1.7, 0.4)
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from microgrsucc.core import is_real, state, to_float
from microgrsucc.value import Value

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FlatParameter", "ParameterView", "flat_of", "owner"]

# The slots a view's ``data`` and ``grad`` properties hide. ``data``'s keeps the view's place:
# (its FlatParameter, its position, and memoryviews of the data, grad and has_grad arrays,
# whose items are Python floats and bools, read faster than with ndarray.item).
_SLOT: Any = Value.__dict__["data"]
_GRAD_SLOT: Any = Value.__dict__["grad"]


class ParameterView(Value):
    """A parameter whose ``data`` and ``grad`` are one element of a ``FlatParameter``'s arrays.

    It is a Value in every other way: a leaf, with its label, in any graph. ``copy``,
    ``deepcopy`` and ``pickle`` of a view alone give plain Values (a copy does not share the
    storage); of its FlatParameter, or a model holding one, see ``FlatParameter``.
    """

    __slots__ = ()
    _place: Any = _SLOT  # the hidden slot under another name: read as fast as any slot

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("ParameterView is made by FlatParameter(params), not called directly")

    @property
    def data(self) -> float:
        _, i, data, _, _ = self._place
        return data[i]  # type: ignore[no-any-return]

    @data.setter
    def data(self, x: Any) -> None:
        _, i, data, _, _ = self._place
        # Checked as Value() checks it: float() alone takes "1.5" as 1.5 (numpy took None as NaN).
        data[i] = x if x.__class__ is float else to_float(x, "data")

    @property
    def grad(self) -> Any:
        flat, i, _, grad, has = self._place
        if not has[i]:
            return None
        found = flat._objects.get(i) if flat._objects else None
        return grad[i] if found is None else found

    @grad.setter
    def grad(self, g: Any) -> None:
        flat, i, _, grad, has = self._place
        if g.__class__ is float and not flat._objects:  # what backward() writes
            grad[i] = g
            has[i] = True
        else:
            flat._set_grad(i, g)

    def __copy__(self) -> Value:
        out = Value(self.data, label=self.label)
        out.grad = self.grad
        out._xa = self._xa
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        # Saved as the plain Value it stands for: a pickle holds numbers, not the storage.
        made, args, *rest = super().__reduce__()
        return (made, (Value, *args[1:]), *rest)


class FlatParameter:
    """Parameters whose values and gradients live in two float64 arrays of shape ``(n,)``.

    Each Value of ``params`` becomes a ``ParameterView`` of its element (its class changes;
    ``isinstance(p, Value)`` stays true) until ``unflatten()``. An optimizer given the
    FlatParameter itself (``optim.SGD(flat, lr=0.1)``) steps the arrays; ``compile``'s
    steps over exactly these parameters read ``data`` and add to ``grad`` in one operation.
    ``copy.deepcopy`` and ``pickle`` (of it, or of a model holding it) give a new
    FlatParameter whose params are views of its own arrays.

    A FlatParameter and its views refer to each other (each view must find its arrays, and
    the FlatParameter its views), so a dropped model with one is freed by Python's cyclic
    collector, not at once as a graph is; parameters live as long as their model anyway.

    Args:
        params: the leaf Values to hold, each once, as ``model.parameters()``.

    Attributes:
        params: the views, in the order given; ``params[i]`` is element ``i``.
        data: float64 array ``(n,)``, the values; edit it in place (``flat.data -= step``)
            or assign an array of the same shape.
        grad: float64 array ``(n,)``, the gradients; 0.0 where ``has_grad`` is False.
            Assigning an array sets every gradient; assigning None clears them all (as
            ``flat.zero_grad()``), PyTorch's ``p.grad = None``.
        has_grad: bool array ``(n,)``, False where a Value's ``grad`` is None. Writing
            ``grad`` directly, set ``has_grad`` too: where it is False, ``p.grad`` stays
            None and optimizers skip the element.

    Raises:
        ImportError: numpy is not installed (``pip install "microgrsucc[fast]"``).
        TypeError: an entry is not a plain Value (a Dual, a traced value, a number).
        ValueError: an entry is not a leaf, appears twice, or is a view of a FlatParameter
            already.
    """

    def __init__(self, params: Iterable[Value]) -> None:
        try:
            import numpy as np
        except ImportError as err:
            raise ImportError('FlatParameter needs numpy: pip install "microgrsucc[fast]"') from err
        if isinstance(params, Value) or not isinstance(params, Iterable):
            raise TypeError(
                "FlatParameter: params must be a list of Values, as model.parameters(), got "
                f"{type(params).__name__}"
            )
        found = list(params)
        seen: set[int] = set()
        for i, p in enumerate(found):
            if type(p) is ParameterView:
                raise ValueError(
                    f"FlatParameter: params[{i}] is a view of a FlatParameter already; call that "
                    "one's unflatten() first"
                )
            if type(p) is not Value:
                raise TypeError(f"FlatParameter: params[{i}] must be a Value, got {type(p).__name__}")
            if p._op is not None:
                raise ValueError(f"FlatParameter: params[{i}] is not a leaf (it is the result of {p.op})")
            if id(p) in seen:
                raise ValueError(f"FlatParameter: params[{i}] appears more than once")
            seen.add(id(p))
        # Checked before any Value changes class: a failed flatten leaves them all plain.
        data = [to_float(p.data, f"FlatParameter: params[{i}].data") for i, p in enumerate(found)]
        grads = [_checked_grad(p.grad, f"FlatParameter: params[{i}].grad") for i, p in enumerate(found)]
        self._data = np.array(data, dtype=np.float64)
        self._grad = np.zeros(len(found))
        self._has = np.array([g is not None for g in grads], dtype=bool)
        self._objects: dict[int, Any] = {}  # position -> a gradient that is a Value
        views = self._data.data, self._grad.data, self._has.data  # memoryviews
        for i, p in enumerate(found):
            p.__class__ = ParameterView
            _SLOT.__set__(p, (self, i, *views))
            _GRAD_SLOT.__set__(p, None)
            p.grad = grads[i]
        self.params: list[Value] = found
        self._released = False

    def __len__(self) -> int:
        return len(self.params)

    def __reduce__(self) -> tuple[Any, ...]:
        # A pickle or a deepcopy holds the parameters as plain Values (a view saves as the
        # Value it stands for); they are made views of the copy, else its arrays would stand
        # beside Values that no longer read them (a step on them would move nothing). A
        # subclass's own attributes go with it, as for any object.
        extra = {k: v for k, v in self.__dict__.items() if k not in _OWN} or None
        if self._released:
            return (_unflattened, (self.params, self._data, self._grad, self._has, type(self)), extra)
        return (_flattened, (type(self), self.params), extra)

    def __copy__(self) -> FlatParameter:
        out: FlatParameter = object.__new__(type(self))  # the same views and arrays
        out.__dict__.update(self.__dict__)
        return out

    def __repr__(self) -> str:
        state = ", unflattened" if self._released else ""
        return f"<FlatParameter of {len(self.params)} parameters{state}>"

    @property
    def data(self) -> np.ndarray:
        if state.compiling:  # a loss being traced reads the array, so it may branch on it:
            for p in self.params:  # each view's read is then guarded, as a read of p.data is
                p.data  # noqa: B018
        return self._data

    @data.setter
    def data(self, values: Any) -> None:
        self._data[...] = _same_shape(self._data, values, "data")

    @property
    def grad(self) -> np.ndarray:
        for i, g in self._objects.items():  # a gradient graph's value may have been edited
            self._grad[i] = g.data
        return self._grad

    @grad.setter
    def grad(self, values: Any) -> None:
        # PyTorch's idiom ``flat.grad = None`` clears every gradient; an array sets them all.
        if values is None:
            self.zero_grad()
            return
        if values is self._grad:  # an in-place op (flat.grad *= 0.5): done to the array already;
            self._objects.clear()  # the elements without a gradient keep None
            self._grad[~self._has] = 0.0
            return
        self._grad[...] = _same_shape(self._grad, values, "grad")
        self._objects.clear()
        self._has.fill(True)

    @property
    def has_grad(self) -> np.ndarray:
        return self._has

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every gradient, as ``zero_grad`` does for each Value.

        Args:
            set_to_none: True (the default, as PyTorch): every ``p.grad`` becomes None.
                False: those that are not None become 0.0.
        """
        self._grad.fill(0.0)
        self._objects.clear()
        if set_to_none:
            self._has.fill(False)

    def accumulate(self, index: Any, g: Any, alpha: float = 1.0) -> None:
        """``grad[index] += alpha * g``, where a gradient that was None becomes ``alpha * g``
        itself, as ``backward()`` writes a Value's first gradient (and -0.0 stays -0.0).

        Args:
            index: int array ``(k,)`` of distinct positions, or None for every element in
                order (``k = n``).
            g: float64 array ``(k,)``, the gradients to add (not written).
            alpha: the factor of ``g`` (as ``torch.Tensor.add_``'s), a float: each element is
                ``alpha * g[i]`` rounded, then added.

        Raises:
            ValueError: ``g`` is not of shape ``(k,)``.
        """
        import numpy as np

        k = len(self.params) if index is None else len(index)
        if getattr(g, "shape", None) != (k,):
            raise ValueError(
                f"FlatParameter.accumulate: expected gradients of shape ({k},), got "
                f"{getattr(g, 'shape', type(g).__name__)}"
            )
        has = self._has
        # One count says which of three cases holds: every position has a gradient (add),
        # none has (copy: -0.0 stays -0.0), or some have (both, by mask).
        found = np.count_nonzero(has if index is None else has[index])
        if found == 0 and index is None and not self._objects:  # after zero_grad(): one pass
            np.multiply(g, alpha, out=self._grad)
            has.fill(True)
            return
        if alpha != 1.0:
            g = g * alpha
        if self._objects:
            positions = range(len(self.params)) if index is None else index.tolist()
            if not self._objects.keys().isdisjoint(positions):  # a Value gradient: a graph
                olds = [self.params[i].grad for i in positions]
                # Every sum first (one may raise under detect_anomaly), then every write.
                new = [gi if old is None else old + gi for old, gi in zip(olds, g.tolist(), strict=True)]
                for i, gi in zip(positions, new, strict=True):
                    self.params[i].grad = gi
                return
        if index is None:  # the whole arrays
            if found == len(has):
                self._grad += g
            else:
                self._grad[...] = np.where(has, self._grad + g, g) if found else g
                has.fill(True)
            return
        if found == len(index):
            self._grad[index] += g  # distinct positions: no element is added twice
            return
        self._grad[index] = np.where(has[index], self._grad[index] + g, g) if found else g
        has[index] = True

    def unflatten(self) -> None:
        """Make every view a plain Value again, holding its current ``data`` and ``grad``;
        the arrays are left as they are, no longer shared."""
        if self._released:
            return
        for p in self.params:
            data, grad = p.data, p.grad
            p.__class__ = Value
            _SLOT.__set__(p, data)
            _GRAD_SLOT.__set__(p, grad)
        self._released = True

    def _set_grad(self, i: int, g: Any) -> None:
        g = _checked_grad(g, "grad")
        self._objects.pop(i, None)
        if g is None:
            self._grad[i] = 0.0
            self._has[i] = False
            return
        if isinstance(g, Value):  # after backward(create_graph=True): kept, and its value too
            self._objects[i] = g
            g = g.data
        self._grad[i] = g
        self._has[i] = True


def owner(p: Value) -> FlatParameter | None:
    """The FlatParameter ``p`` is a view of, or None."""
    # isinstance: while compile traces, a view's class is a subclass that records reads
    return _SLOT.__get__(p, Value)[0] if isinstance(p, ParameterView) else None


def flat_of(params: list[Value]) -> tuple[FlatParameter, Any] | None:
    """The FlatParameter whose views are ``params``, and their positions in it (an int
    array), or None if they are not all views of one FlatParameter."""
    if not params or not isinstance(params[0], ParameterView):
        return None
    flat: FlatParameter = _SLOT.__get__(params[0], Value)[0]
    import numpy as np

    index = []
    for p in params:
        if not isinstance(p, ParameterView):
            return None
        owner, i = _SLOT.__get__(p, Value)[:2]
        if owner is not flat:
            return None
        index.append(i)
    return flat, np.array(index, dtype=np.intp)


def _checked_grad(g: Any, where: str) -> Any:
    """A gradient a view can hold: None, a Value (a gradient graph) or a real number as a float."""
    return g if g is None or isinstance(g, Value) else to_float(g, where)


def _flattened(cls: type[FlatParameter], params: list[Value]) -> FlatParameter:
    """A FlatParameter (or a subclass, whose ``__init__`` may take more) of ``params``."""
    out: FlatParameter = object.__new__(cls)
    FlatParameter.__init__(out, params)
    return out


_OWN = {"params", "_data", "_grad", "_has", "_objects", "_released"}  # FlatParameter's attributes


def _unflattened(
    params: list[Value], data: Any, grad: Any, has: Any, cls: type[FlatParameter] = FlatParameter
) -> FlatParameter:
    """A FlatParameter after ``unflatten()``: plain Values and arrays that are not theirs."""
    out: FlatParameter = object.__new__(cls)
    out.params, out._data, out._grad, out._has = params, data, grad, has
    out._objects, out._released = {}, True
    return out


def _same_shape(target: Any, values: Any, name: str) -> Any:
    import numpy as np

    if isinstance(values, (list, tuple)):  # each number as Value() takes it (2**70; not True)
        for i, x in enumerate(values):
            if not is_real(x):
                raise TypeError(
                    f"FlatParameter.{name}: expected real numbers, got {type(x).__name__} at [{i}]: "
                    f"{reprlib.repr(x)}"
                )
        values = [to_float(x, f"FlatParameter.{name}[{i}]") for i, x in enumerate(values)]
    array = np.asarray(values)
    if array.dtype.kind not in "fiu":  # numpy would cast None to NaN, "1.5" to 1.5, True to 1.0
        raise TypeError(
            f"FlatParameter.{name}: expected real numbers, got an array of {array.dtype} "
            f"({reprlib.repr(values)})"
        )
    if array.shape != target.shape:
        raise ValueError(
            f"FlatParameter.{name}: expected an array of shape {target.shape}, got {array.shape}"
        )
    return array.astype(np.float64, copy=False)
