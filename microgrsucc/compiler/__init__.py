"""``microgrsucc.compile``: trace a per-sample loss once, then replay it as generated code.

>>> import microgrsucc as mg
>>> w = mg.Value(2.0)
>>> step = mg.compile(lambda x, y: (w * x - y) ** 2, [w])
>>> step(3.0, 5.0)
1.0
>>> step.backward([(3.0, 5.0), (1.0, 1.0)], reduction="sum"), w.grad
(2.0, 8.0)
"""

from __future__ import annotations

import importlib
import importlib.util
import operator
import reprlib
from collections.abc import Callable, Iterable, Sequence
from itertools import compress, count
from typing import Any

from microgrsucc import ops
from microgrsucc.compiler import eager, python_code
from microgrsucc.compiler.python_code import DOMAIN_ERRORS, Replay, generated_code_error
from microgrsucc.compiler.samples import batch, floats
from microgrsucc.compiler.trace import PARAM, Trace, primitive_of
from microgrsucc.compiler.tracing import trace
from microgrsucc.core import modes_set, state
from microgrsucc.flat import FlatParameter, flat_of, owner
from microgrsucc.gcscope import collector_paused
from microgrsucc.ops.primitive import Table
from microgrsucc.value import Value

__all__ = ["BACKENDS", "CompiledLoss", "compile"]

BACKENDS = ("python", "numpy", "numba", "jax")

# The backends beyond python: the module that writes their code, the package it needs and
# the extra that installs it.
_GENERATORS = {
    "numpy": ("numpy_code", "numpy", "fast"),
    "numba": ("numba_code", "numba", "numba"),
    "jax": ("jax_code", "jax", "jax"),
}


class _Compiled:
    """One trace (for one number of arguments) and its generated functions."""

    def __init__(self, t: Trace, backend: str) -> None:
        self.trace = t
        self.source: str
        if backend in _GENERATORS:
            module = importlib.import_module(f"microgrsucc.compiler.{_GENERATORS[backend][0]}")
            self.batch, self.source = module.generate(t)
        else:
            self.batch, self.source = python_code.generate(t)
        self._value: Callable[..., Any] | None = None
        self.table = [(op, op.forward, op.derivative) for op in t.used_primitives()]
        self.checked = Table.changes  # the count of changes when ``current()`` last held
        self.reached = _reached(t)
        # The positions of the parameters the loss reaches, or None for all of them.
        self.kept = None if all(self.reached) else [k for k, r in enumerate(self.reached) if r]

    def value(self, *args: Any) -> Any:
        if self._value is None:  # written on first use: a training loop may never need it
            self._value, self._value_source = python_code.generate_value(self.trace)
        return self._value(*args)

    def value_source(self) -> str:
        return self._value_source if self._value is not None else ""

    def current(self) -> bool:
        return all(op.forward is f and op.derivative is d for op, f, d in self.table)


class CompiledLoss:
    """A per-sample loss compiled for a parameter list; see ``compile``."""

    def __init__(
        self, sample_loss: Callable[..., Any], params: Iterable[Value] | FlatParameter, backend: str
    ) -> None:
        if not callable(sample_loss):
            raise TypeError(f"compile: sample_loss must be callable, got {type(sample_loss).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"compile: unknown backend {backend!r}; expected one of {list(BACKENDS)}")
        if backend in _GENERATORS:
            _need(backend)
        self.sample_loss = sample_loss
        self.backend = backend
        if isinstance(params, FlatParameter):  # as the optimizers take it: its views, in a
            params = tuple(params.params)  # list nobody edits, so not compared at each call
        self._given = params
        self.params = _checked(params)
        self._table = dict(ops.PRIMITIVES)
        self._seen: tuple[dict[str, Any], int] = (ops.PRIMITIVES, Table.changes)
        self._traces: dict[int, _Compiled] = {}
        self._flat: tuple[FlatParameter, Any, bool] | None = None

    def __repr__(self) -> str:
        name = getattr(self.sample_loss, "__qualname__", repr(self.sample_loss))
        return f"<compiled {name}, {len(self.params)} parameters, backend={self.backend!r}>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy.deepcopy and pickle come here. A deep copy would hold copied parameters but
        # the same sample_loss (a function copies as itself), which still computes the
        # original model: the copy's numbers would change at its next retrace.
        raise TypeError(
            "compile: a compiled step cannot be copied or pickled (its sample_loss is not copied "
            "with its parameters); copy or pickle the model and compile the copy's loss, or use "
            "copy.copy(step) for a step over the same parameters"
        )

    def __copy__(self) -> CompiledLoss:
        """A second step over the same parameters and ``sample_loss``, sharing their traces."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        return out

    def retrace(self) -> None:
        """Forget the traces: the next call traces ``sample_loss`` again."""
        self._traces.clear()

    def source(self, nargs: int) -> str:
        """The generated code for samples of ``nargs`` arguments (tracing them if needed)."""
        return self._compiled(nargs).source

    def _compiled(self, nargs: int) -> _Compiled:
        given = self._given
        if isinstance(given, list) and given != self.params:  # Values compare by identity
            self.params = _checked(given)  # the parameter list changed: trace again
            self._traces.clear()
            self._flat = None
        # The table and its ops' functions are compared only when Table.changes has moved
        # since (or when ops.PRIMITIVES is no longer the table it counts for).
        table, changes = ops.PRIMITIVES, Table.changes
        unchanged = self._seen[0] is table and self._seen[1] == changes and type(table) is Table
        if not unchanged:
            if self._table != table:
                self._table = dict(table)
                self._traces.clear()
            self._seen = table, changes
        compiled = self._traces.get(nargs)
        if compiled is not None and not (unchanged and compiled.checked == changes):
            if compiled.current():
                compiled.checked = changes
            else:
                compiled = None
        if compiled is None or not compiled.trace.holds(self.params):
            # The trace and its analysis make a few objects per traced op (tens of thousands for
            # a wide model) and no reference cycles: the cyclic collector's passes over them
            # took a fifth of the time. It is paused for this one-time work only.
            with collector_paused():
                made = _Compiled(trace(self.sample_loss, self.params, nargs), self.backend)
            compiled = self._traces[nargs] = made
        return compiled

    def _viewed(self) -> tuple[FlatParameter, Any, bool] | None:
        """When every parameter is a view of one FlatParameter: it, their positions in it,
        and whether those are all of its elements in order (its arrays are then used whole).
        A FlatParameter's views stay views until it is unflattened, all at once, so the
        first parameter's owner tells whether the positions found before still hold."""
        params = self.params
        if not params:
            return None
        flat = owner(params[0])
        if flat is None:
            return None
        if self._flat is None or self._flat[0] is not flat:
            found = flat_of(params)
            if found is None:
                return None
            index = found[1]
            self._flat = flat, index, len(index) == len(flat) and bool((index == range(len(flat))).all())
        return self._flat

    def _values(self, array: bool, viewed: tuple[FlatParameter, Any, bool] | None) -> Any:
        """The parameters' values: a list of floats, or for ``array`` and a FlatParameter's
        views (``viewed``, from ``_viewed()``), a float64 array read in one operation."""
        if viewed is None:
            return [p.data for p in self.params]
        flat, index, whole = viewed
        values = flat.data if whole else flat.data[index]
        return values if array else values.tolist()

    def __call__(self, *sample: Any) -> float:
        """``sample_loss(*sample).data``, computed by the generated code; no graph is kept."""
        sample = floats(sample, len(sample), 0)  # float64 at the boundary, as Value converts its data
        compiled = self._compiled(len(sample))
        if not (modes_set[0] and state.anomaly):
            try:
                return float(compiled.value(self._values(False, self._viewed()), *sample))
            except DOMAIN_ERRORS:
                pass  # the eager engine raises its own error, or agrees with a NaN
            except Exception as err:
                raise generated_code_error(err, compiled.value_source()) from err
        return eager.replay(compiled.trace, self.params, [sample], backward=False)[0]

    def backward(self, samples: Iterable[Sequence[Any]], reduction: str = "mean") -> float:
        """Add d(total)/dp to ``p.grad`` for every parameter and return the total.

        ``total`` is the mean (or, with ``reduction="sum"``, the sum) of
        ``sample_loss(*sample)`` over ``samples``, a sequence of argument tuples, exactly as
        building the whole graph and calling ``backward()`` would give it.
        """
        if reduction not in ("mean", "sum"):
            raise ValueError(f"compile: reduction must be 'mean' or 'sum', got {reduction!r}")
        if modes_set[0] and not state.grad_enabled:
            # Eager mode's losses built under no_grad() have no graph, and their backward()
            # raises; the compiled step added no gradient and said nothing.
            raise RuntimeError(
                "compile: backward() inside no_grad(): the losses would be computed with "
                "recording off, so they have no graph to differentiate (as torch says, they "
                "do not require grad); call it with recording on, or step(*sample) for a loss alone"
            )
        rows, nargs = batch(samples, arrays=self.backend != "python")
        compiled = self._compiled(nargs)
        count = len(rows)
        viewed = self._viewed()  # nothing between here and the gradients runs user code
        values = self._values(self.backend != "python", viewed)  # numpy, numba, jax: an array
        result = None
        if not (modes_set[0] and state.anomaly):
            try:
                result = compiled.batch(values, rows, count)
            except Replay as replay:
                # A table function's domain check failed (or may have failed) for some samples:
                # the eager engine runs those and raises its own error; if it does not, the
                # generated result stands, or without one the whole batch is run eagerly.
                if replay.samples is not None:
                    suspects = [rows[k] for k in replay.samples]
                    eager.replay(compiled.trace, self.params, suspects, backward=True)
                result = replay.result
            except DOMAIN_ERRORS:
                result = None  # the eager engine raises its own error, or gives its result
            except Exception as err:
                raise generated_code_error(err, compiled.source) from err
        if result is None:
            result = eager.replay(compiled.trace, self.params, rows, backward=True)
        total, grads = result
        scale = 1.0 / count if reduction == "mean" else 1.0
        if viewed is None:
            _add_grads(self.params, grads, compiled.kept, scale)
        else:
            flat, index, whole = viewed
            _add_flat_grads(flat, None if whole else index, grads, compiled.kept, scale)
        return float(total) * scale


def compile(
    sample_loss: Callable[..., Any], params: Iterable[Value] | FlatParameter, backend: str = "python"
) -> CompiledLoss:
    """Compile a per-sample loss into a training step that gives eager mode's numbers, faster.

    ``sample_loss`` is traced once on symbols (again for another number of arguments, a
    changed parameter list, a changed op of the table, or a parameter whose ``.data`` the
    loss read and which has changed since) and replayed as generated code: ``"python"``
    loops over the samples in plain Python; ``"numpy"`` computes a whole batch with numpy
    arrays (``pip install "microgrsucc[fast]"``). Parameter values are read at each call,
    so optimizers work unchanged between calls. Every sample is made float64 at the
    boundary, as ``Value`` converts its data. While a trace is recorded and its code
    written, Python's cyclic garbage collector is paused (``collector_paused``; it is
    restored after, and nothing else about it changes). See docs/compile.md.

    Args:
        sample_loss: ``sample_loss(*sample) -> Value``, the loss of one sample; each
            argument is a scalar (a float when run eagerly, a traced value when compiled).
            It may branch on parameters' ``.data`` and on constants, not on its arguments.
        params: the leaf Values to differentiate for, as ``model.parameters()``; a list
            that is changed in place is picked up at the next call. When they are all
            views of one ``FlatParameter`` (or are that FlatParameter, as the optimizers
            take it), each call reads its ``data`` and adds to its ``grad`` as whole arrays
            instead of one Value at a time; given the FlatParameter, a call does not compare
            its list of parameters (about 2 ns a parameter).
        backend: ``"python"`` (default), ``"numpy"``, ``"numba"`` or ``"jax"``.

    Returns:
        A ``CompiledLoss`` ``step``: ``step(*sample)`` is the loss of one sample (a float,
        no graph kept); ``step.backward(samples, reduction="mean")`` adds d(total)/dp to
        each ``p.grad`` (None counts as 0) and returns the total, the mean (or with
        ``reduction="sum"`` the sum) of the losses of ``samples`` — a sequence of argument
        tuples, or a 2-d numpy array of shape (samples, arguments) (or an array of another
        library, as ``numpy.asarray`` gives it). ``step.source(n)`` is
        the generated code for samples of ``n`` arguments.

    Raises:
        TypeError: ``sample_loss`` is not callable, ``params`` is not a list of Values, a
            sample is not a tuple of real numbers, or the loss does what a trace cannot
            replay (a Python branch on a sample, ``float()`` of one, a gradient inside it).
        ValueError: an unknown backend, a parameter that is not a leaf or is repeated, or
            samples with different numbers of arguments.
        ImportError: a backend whose package is not installed (the message names the
            extra to install).
        RuntimeError: ``step.backward`` called inside ``no_grad()``, where eager mode's
            losses would have no graph (``step(*sample)`` computes a loss there).

    A sample outside an op's domain raises eager mode's own error from ``backward`` or the
    call (``ValueError``, ``ZeroDivisionError``, ``OverflowError``), naming the op and its
    operands; no gradient is written then.

    >>> import microgrsucc as mg
    >>> w = mg.Value(2.0)
    >>> step = mg.compile(lambda x, y: (w * x - y) ** 2, [w])
    >>> step.backward([(3.0, 5.0), (1.0, 1.0)], reduction="sum"), w.grad
    (2.0, 8.0)
    """
    return CompiledLoss(sample_loss, params, backend)


def _add_grads(params: list[Value], grads: Any, kept: list[int] | None, scale: float) -> None:
    """``p.grad += g * scale`` (None counts as 0) for the parameters at ``kept`` (None: all):
    as backward(), a parameter the loss does not use keeps grad None. A few passes in C and
    one loop writing ``p.grad``: this costs ~100 ns a parameter, which a wide model feels."""
    if kept is not None:  # the others' gradients may be None (from the eager engine)
        params, grads = [params[k] for k in kept], [grads[k] for k in kept]
    old = [p.grad for p in params]
    new: list[Any]
    if hasattr(grads, "tolist"):  # the numpy backend's array
        from microgrsucc.compiler.numpy_runtime import plus

        scaled = grads if scale == 1.0 else grads * scale
        summed = plus(old, scaled)
        new = _added(old, scaled.tolist()) if summed is None else summed
    else:
        new = _added(old, list(map(float, grads)) if scale == 1.0 else [float(g) * scale for g in grads])
    for p, v in zip(params, new, strict=True):
        p.grad = v


def _add_flat_grads(
    flat: FlatParameter, index: Any, grads: Any, kept: list[int] | None, scale: float
) -> None:
    """``_add_grads`` for parameters that are views of ``flat`` at ``index`` (None: all of its
    elements, in order): one operation."""
    import numpy as np

    if kept is not None:
        index = np.array(kept, dtype=np.intp) if index is None else index[kept]
        grads = [grads[k] for k in kept] if isinstance(grads, list) else grads[kept]
    flat.accumulate(index, np.asarray(grads, dtype=np.float64), scale)


def _added(old: list[Any], scaled: list[float]) -> list[Any]:
    """``old + scaled`` item by item; where an old gradient is None, the new one alone."""
    try:
        return list(map(operator.add, old, scaled))
    except TypeError:  # a None among them (no gradient yet)
        return [s if o is None else o + s for o, s in zip(old, scaled, strict=True)]


def _reached(t: Trace) -> list[bool]:
    """For each parameter, whether the root depends on it."""
    needed = t.reaching()
    reached = [False] * t.param_count
    payload = t.payload
    for i in compress(count(), map(PARAM.__eq__, t.kinds)):  # the parameters' nodes
        if needed[i]:
            reached[int(payload[i])] = True
    return reached


def _need(backend: str) -> None:
    _, package, extra = _GENERATORS[backend]
    if importlib.util.find_spec(package) is None:
        raise ImportError(f'compile(backend="{backend}") needs {package}: pip install "microgrsucc[{extra}]"')


def _checked(params: Iterable[Value]) -> list[Value]:
    if isinstance(params, Value) or not isinstance(params, Iterable):
        raise TypeError(f"compile: params must be a list of Values, got {type(params).__name__}")
    found = list(params)
    seen: set[int] = set()
    for i, p in enumerate(found):
        if not isinstance(p, Value):
            raise TypeError(
                f"compile: params[{i}] must be a Value, got {type(p).__name__}: {reprlib.repr(p)}"
            )
        op = primitive_of(p)
        if op is not None:
            raise ValueError(
                f"compile: params[{i}] is not a leaf (it is the result of {op.name}); a parameter is a "
                "Value no op produced, as in model.parameters()"
            )
        if id(p) in seen:
            raise ValueError(f"compile: params[{i}] appears more than once")
        seen.add(id(p))
    return found
