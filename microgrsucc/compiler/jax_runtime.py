"""What the jax backend's generated code runs in: jax's versions of the math functions the
trees call, the checks that note where eager mode would raise, and ``Kernel``, which pads,
shards and runs the jitted step.

jax.numpy has numpy's API, so the numpy backend's printer writes the code, and ``names``
binds the names it calls (``np``, ``where``, ``np_exp``, ``_pow``, ``_guard``...) to jax's
functions. While the kernel is traced, the checked functions note in ``NOTED`` a mask of
the samples where CPython's ``math`` would raise (a NaN from numbers, an infinity from
finite numbers, a domain check of the table); the program returns them as one array.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.tree import Binary, Call, Node, Raise, walk

__all__ = ["CHUNK", "NOTED", "Kernel", "bucket", "jax_function", "names", "raises", "rows"]


def bucket(count: int) -> int:
    """The padded batch size for ``count`` samples: at most 8 sizes per doubling (padding
    under 12.5%), so a training loop whose last batch is short compiles twice, not per size."""
    if count <= 8:
        return 8
    step = 1 << max(0, (count - 1).bit_length() - 3)
    return -(-count // step) * step


# jax's version of a math function, where its name differs from math's.
_RENAMED = {
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "acosh": "arccosh",
    "atanh": "arctanh", "atan2": "arctan2", "pow": "power", "fabs": "abs",
}  # fmt: skip
# math functions jax.numpy has none of, or one that computes something else.
_SPECIAL = {"erf": "erf", "erfc": "erfc", "lgamma": "gammaln", "gamma": "gamma"}
_DIFFERENT = {"remainder"}  # jnp.remainder is Python's %, math.remainder IEEE's


def _host(f: Callable[..., float]) -> Callable[..., Any]:
    """math's ``f`` per element, called back from the program (a function jax has none of);
    NaN where it raises, which the checks then note."""

    def one(*x: float) -> float:
        try:
            return float(f(*x))
        except (ArithmeticError, ValueError):
            return math.nan

    ufunc = np.vectorize(one, otypes=[np.float64])

    def call(*args: Any) -> Any:
        args = tuple(jnp.asarray(a, dtype=jnp.float64) for a in args)
        shape = jnp.broadcast_shapes(*(a.shape for a in args))
        result = jax.ShapeDtypeStruct(shape, jnp.float64)  # type: ignore[no-untyped-call]
        return jax.pure_callback(lambda *a: ufunc(*a), result, *args, vmap_method="broadcast_all")

    return call


def jax_function(name: str) -> Callable[..., Any]:
    """jax's version of math's function ``name`` (``asin`` is ``arcsin``, ``erf`` is
    ``jax.scipy.special.erf``), or math's own called back per element."""
    if name == "is_integer":
        return lambda x: jnp.isfinite(x) & (jnp.floor(x) == x)
    if name in _SPECIAL:
        return getattr(jax.scipy.special, _SPECIAL[name])  # type: ignore[no-any-return]
    found = getattr(jnp, _RENAMED.get(name, name), None)
    if found is None or name in _DIFFERENT:
        return _host(getattr(math, name))
    return found  # type: ignore[no-any-return]


def _heaviside(x: Any, at_zero: float) -> Any:
    # jnp.heaviside gives at_zero for NaN; the table's slopes (numpy's heaviside) give NaN.
    return jnp.where(x > 0.0, 1.0, jnp.where(x < 0.0, 0.0, jnp.where(x == 0.0, at_zero, x)))


# The masks of the samples that would raise in eager mode, noted while the program is traced
# (one list per thread; None outside the kernel's own statements).
NOTED = threading.local()


def _note(bad: Any) -> None:
    found = getattr(NOTED, "found", None)
    if found is not None:
        found.append(bad)


class _Checked:
    """jax's ``f``, noting where math's would raise: a NaN from numbers (ValueError) or an
    infinity from finite numbers (OverflowError); ``on`` only where a branch's mask holds.
    The numpy backend's ``Checked``, with the mask returned by the program instead of noted
    while it runs."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f = f

    def __call__(self, *args: Any) -> Any:
        args = _constant(args)
        r = self.f(*args)
        _note(_failed(r, args))
        return r

    def on(self, where: Callable[[], Any], *args: Any) -> Any:
        args = _constant(args)
        r = self.f(*args)
        _note(_failed(r, args) & where())
        return r


def _constant(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments of a check, out of the derivative's reach: a check's values feed only its
    mask, and a function called back on the host (``_host``: math's, for one jax has none of)
    has no derivative for jax to trace through (``value_and_grad`` raised, and the whole
    batch went to the eager engine on every call)."""
    return tuple(jax.lax.stop_gradient(a) for a in args)


class _Unchecked(_Checked):
    """jax's ``f`` where the printed code calls a checked function, noting nothing (in the ops'
    own functions, whose checks the kernel's check statements make)."""

    def __call__(self, *args: Any) -> Any:
        return self.f(*args)

    def on(self, where: Callable[[], Any], *args: Any) -> Any:
        return self.f(*args)


def _failed(r: Any, args: tuple[Any, ...]) -> Any:
    nan_in = functools.reduce(jnp.logical_or, [jnp.isnan(a) for a in args])
    finite_in = functools.reduce(jnp.logical_and, [jnp.isfinite(a) for a in args])
    return (jnp.isnan(r) & ~nan_in) | (jnp.isinf(r) & finite_in)


def _guard(failed: Any, value: Any) -> Any:
    _note(failed)
    return value


def names(plan: Plan, checking: bool) -> dict[str, Any]:
    """The names the printed trees read, bound to jax's functions: with ``checking``, the
    functions that can raise in eager mode note where (for the kernel's check statements)."""
    found: dict[str, Any] = {"np": jnp, "where": jnp.where, "heaviside": _heaviside, "inf": math.inf}
    found.update(nan=math.nan, jax=jax, jnp=jnp, SymbolicZero=SymbolicZero, _tangent=_tangent)
    found["_negative_zeros"] = _negative_zeros
    wrap = _Checked if checking else _Unchecked
    found["_pow"] = wrap(jnp.power)
    found["_guard"] = _guard if checking else (lambda failed, value: value)
    for info in {id(info): info for info in plan.info}.values():  # one per op, not per node
        for tree in _trees(info):
            for m in walk(tree):
                if isinstance(m, Call):
                    f = jax_function(m.fn)
                    total = m.fn in ("isfinite", "isnan", "isinf", "is_integer", "copysign", "fabs")
                    found[f"np_{m.fn}"] = f if total else wrap(f)
    return found


@jax.custom_jvp
def _negative_zeros(Z: Any, A: Any, W: Any) -> Any:
    """The zeros of ``Z = A @ W.T`` signed as eager mode's sums are: -0.0 where every term
    ``A[s, i] * W[j, i]`` is -0.0, +0.0 elsewhere (``numpy_runtime.negative_zeros``: XLA's
    dot may fuse a product into its sum). The terms are formed only when Z has a zero; the
    derivative is Z's, as for the product."""

    def fix(Z: Any) -> Any:
        terms = A[:, None, :] * W[None, :, :]
        negative = jnp.all((terms == 0.0) & jnp.signbit(terms), axis=-1)
        return jnp.where(Z == 0.0, jnp.where(negative, -0.0, 0.0), Z)

    return jax.lax.cond(jnp.any(Z == 0.0), fix, lambda Z: Z, Z)


@_negative_zeros.defjvp
def _negative_zeros_jvp(primals: tuple[Any, Any, Any], tangents: tuple[Any, Any, Any]) -> tuple[Any, Any]:
    return _negative_zeros(*primals), tangents[0]


def _trees(info: Any) -> list[Node]:
    if info is None:
        return []
    return [t for t in [info.forward, *info.partials] if t is not None]


def _tangent(terms: list[Any], out: Any) -> Any:
    """The sum of an op's tangent terms, shaped as its output (a scalar operand's term is
    broadcast over the batch, so its gradient is summed over the batch)."""
    if not terms:
        return jnp.zeros_like(out)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return jnp.broadcast_to(total, jnp.shape(out))


def raises(tree: Node) -> bool:
    """Whether printing ``tree`` notes a check: a function call, ``**`` or a domain check."""
    return any(isinstance(m, (Call, Raise)) or (isinstance(m, Binary) and m.op == "**") for m in walk(tree))


def rows(found: list[Any], count: int) -> Any:
    """The samples (rows) any noted mask flags: a mask of a block flags its rows, a mask of
    numbers that do not vary per sample flags every sample."""
    bad = jnp.zeros(count, dtype=bool)
    for m in found:
        m = jnp.asarray(m)
        if m.ndim == 2:
            m = jnp.any(m, axis=1)
        bad = bad | jnp.broadcast_to(m, (count,))
    return bad


CHUNK = 2048
"""Samples per pass of a large batch on one device (``Kernel.chunk``)."""
_CHUNK_FLOATS = 1 << 18  # 2 MB: a batch whose widest array is larger runs in chunks


def _in_chunks(value_and_grad: Callable[..., Any], PV: Any, HV: Any, X: Any, n: Any, chunk: int) -> Any:
    """``value_and_grad(PV, HV, X, n)`` of the whole batch as a loop (``lax.scan``) over its
    chunks of ``chunk`` rows, each chunk's forward and backward pass in turn: XLA then keeps
    one chunk's arrays, in the cache, where the whole batch's arrays are fresh memory on
    each call. The sums over chunks add the chunks' sums."""
    parts = X.reshape(-1, chunk, X.shape[1])
    starts = jnp.arange(parts.shape[0]) * chunk

    def one(carry: Any, part: Any) -> Any:
        total, gP, gH, any_bad = carry
        rows, start = part
        (t, (a, bad)), (dP, dH) = value_and_grad(PV, HV, rows, n - start)  # rows past n masked
        return (total + t, gP + dP, gH + dH, any_bad | a), bad

    zero = (jnp.zeros((), PV.dtype), jnp.zeros_like(PV), jnp.zeros_like(HV), jnp.zeros((), bool))
    (total, gP, gH, any_bad), bad = jax.lax.scan(one, zero, (parts, starts))
    return (total, (any_bad, bad.reshape(-1))), (gP, gH)


def _packed(result: Any) -> tuple[Any, Any]:
    """``value_and_grad``'s results as one array, which comes back in one transfer: the
    total, whether any sample was noted, whether the total and every gradient are finite,
    then the held values' gradients and the parameters'; and the mask of the noted samples,
    fetched only when there are some."""
    (total, (any_bad, bad)), (gP, gH) = result
    finite = jnp.isfinite(total) & jnp.all(jnp.isfinite(gP)) & jnp.all(jnp.isfinite(gH))
    head = jnp.stack([total, any_bad.astype(total.dtype), finite.astype(total.dtype)])
    return jnp.concatenate([head, gH, gP]), bad


class Kernel:
    """The jitted forward and backward of the varying part, over padded, sharded batches.

    ``widest``: the most columns of an array of the kernel (its widest layer), which says
    when a batch on one device runs in chunks (``chunk``)."""

    def __init__(self, kernel: Callable[..., Any], widest: int = 1) -> None:
        value_and_grad = jax.value_and_grad(kernel, argnums=(0, 1), has_aux=True)
        self.step = jax.jit(lambda *args: _packed(value_and_grad(*args)))
        self.in_chunks = jax.jit(
            lambda PV, HV, X, n, chunk: _packed(_in_chunks(value_and_grad, PV, HV, X, n, chunk)),
            static_argnames="chunk",
        )
        self.widest = widest
        self.padding = threading.local()  # each thread's padded batch (``padded``)
        self.devices = jax.devices()
        self.sharded: tuple[Any, Any] | None = None
        if len(self.devices) > 1:  # the samples split across the devices, the rest replicated
            mesh = jax.sharding.Mesh(np.array(self.devices), ("batch",))
            rows = jax.sharding.PartitionSpec("batch")  # type: ignore[no-untyped-call]
            whole = jax.sharding.PartitionSpec()  # type: ignore[no-untyped-call]
            self.sharded = (jax.sharding.NamedSharding(mesh, rows), jax.sharding.NamedSharding(mesh, whole))

    def __call__(self, P: Any, H: list[float], samples: Any, count: int) -> tuple[Any, ...]:
        X = np.asarray(samples, dtype=np.float64).reshape(count, -1)
        size = bucket(count)
        size = -(-size // len(self.devices)) * len(self.devices)  # a whole number of rows per device
        padded = X if size == count else self.padded(X, size)
        total, gP, gH, bad, finite = self.run(P, H, padded, count)
        if size != count and not finite:
            # A padded copy of a sample contributes 0 * (its partial): NaN where that is
            # infinite. Without the padding, the numbers are eager mode's.
            total, gP, gH, bad, finite = self.run(P, H, X, count)
        return total, gP, gH, bad

    def padded(self, X: Any, size: int) -> Any:
        """``X`` and copies of its rows from the first on, ``size`` rows in all, in an array
        the calling thread keeps for its next call of that size (``run`` has returned, and
        jax has let go of the array, before that call writes it)."""
        kept = getattr(self.padding, "array", None)
        if kept is None or kept.shape != (size, X.shape[1]):
            kept = self.padding.array = np.empty((size, X.shape[1]))
        count = len(X)
        kept[:count] = X
        np.take(X, np.arange(size - count) % count, axis=0, out=kept[count:])
        return kept

    def chunk(self, size: int) -> int | None:
        """Rows per chunk for a batch of ``size`` rows on one device, or None for one pass: a
        batch whose widest array holds over 2**18 floats runs in chunks of ``CHUNK`` rows, or
        of the largest power of two that divides ``size`` if smaller (an eighth of ``CHUNK`` at
        least). The benchmark's step compiled by this backend, in chunks and whole in
        alternate blocks of one process (medians of 5, CPU time, 2026-11-30, load 1.0-1.7):
        W = 128 at 10,000 samples 51 ms against 75 ms whole; at 100,000 586 against 692 ms
        (W = 128) and 50 against 75 ms (W = 16); W = 32 and 64 at 10,000 the same within 3%.
        The same MLP written by hand in chunks of 2,048 at 10,240 samples and W = 16: 5.3 ms
        against 4.0 ms whole, so a batch that small runs in one pass."""
        if len(self.devices) > 1 or size * self.widest <= _CHUNK_FLOATS:
            return None
        chunk = min(CHUNK, size & -size)
        return chunk if chunk >= CHUNK // 8 else None

    def run(self, P: Any, H: list[float], X: Any, count: int) -> tuple[Any, ...]:
        with jax.enable_x64(True):
            PV = np.asarray(P, dtype=np.float64)
            HV = np.asarray(H, dtype=np.float64)
            if self.sharded is not None and len(X) % len(self.devices) == 0:
                rows, whole = self.sharded
                X = jax.device_put(X, rows)
                PV, HV = (jax.device_put(a, whole) for a in (PV, HV))
            chunk = self.chunk(len(X))
            try:
                if chunk is None:
                    packed, bad = self.step(PV, HV, X, count)
                else:
                    packed, bad = self.in_chunks(PV, HV, X, count, chunk=chunk)
            except (ArithmeticError, ValueError) as err:
                # The program notes a sample's domain error in its mask and never raises one:
                # an error of these types comes from jax tracing or compiling it, a bug, and must
                # not pass for a domain error (which hands the batch to the eager engine).
                raise RuntimeError(f"jax could not run the step: {type(err).__name__}: {err}") from err
            packed = np.asarray(packed)  # one transfer
            total, any_bad, finite = packed[:3].tolist()
            found = np.flatnonzero(np.asarray(bad)).tolist() if any_bad else []
            gH = packed[3 : 3 + len(HV)]
            return total, packed[3 + len(HV) :].copy(), gH.tolist(), found, bool(finite)
