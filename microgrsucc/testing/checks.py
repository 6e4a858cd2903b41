"""``gradcheck`` and ``gradgradcheck``: the engine's derivatives against central differences;
``check_primitive``: the conformance check every op of the table passes, for your own ops.

As in PyTorch: a derivative passes when ``|analytic - numeric| <= atol + rtol * |numeric|``,
with the numeric one from central differences of step ``eps`` in float64. A failure raises
``GradcheckError`` naming the argument and the two numbers, or returns False with
``raise_exception=False``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, SupportsFloat

from microgrsucc.core import to_float
from microgrsucc.custom_ops import CustomOp
from microgrsucc.functions import gradients
from microgrsucc.ops import Primitive
from microgrsucc.testing.numeric import central_difference, differences_agree, extrapolated_difference
from microgrsucc.transforms import grad, jvp
from microgrsucc.value import Value

__all__ = [
    "CHECKS",
    "ConformanceError",
    "GradcheckError",
    "check_primitive",
    "gradcheck",
    "gradgradcheck",
]


class GradcheckError(RuntimeError):
    """A derivative differs from its central difference by more than the tolerance."""


def gradcheck(
    f: Callable[..., Any],
    *args: SupportsFloat,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """True when every partial of the scalar function ``f`` at ``args`` matches central differences.

    The step in argument ``x`` is ``eps * max(1, |x|)`` (PyTorch's is ``eps``, which is below the
    spacing of floats at ``|x| >= 1e10``), the step ``differences_agree`` judges.

    >>> import math
    >>> import microgrsucc as mg
    >>> gradcheck(lambda x, y: x * mg.exp(y), 1.5, -0.5)
    True
    >>> wrong = mg.custom_op("wrong_exp", math.exp, lambda F, x, out: 2 * out)
    >>> gradcheck(wrong, 0.3, raise_exception=False)
    False
    """
    floats = _arguments(args, eps, "gradcheck", atol, rtol)
    derivatives = grad(f, argnums=tuple(range(len(floats))))(*floats)

    def evaluate(*xs: float) -> float:
        # Values, not floats, since f may call Value methods (x.sin()).
        out = f(*[Value(x) for x in xs])
        return out.data if isinstance(out, Value) else float(out)

    what = "the derivative in argument {i}"
    return _compare("gradcheck", evaluate, floats, derivatives, what, eps, atol, rtol, raise_exception)


# The same parameters as gradcheck's, spelled out (not **kwargs) so help() and mypy show them.
def gradgradcheck(
    f: Callable[..., Any],
    *args: SupportsFloat,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """``gradcheck`` one order up: every second partial against central differences of the first.

    This catches a derivative that is right in value but not differentiable, such as one
    computed from ``F.value(x)``.
    """
    floats = _arguments(args, eps, "gradgradcheck", atol, rtol)
    for j in range(len(floats)):
        df = grad(f, argnums=j)  # on plain numbers it returns floats, so it is its own reference
        second = grad(df, argnums=tuple(range(len(floats))))(*floats)
        what = f"the second derivative in arguments {j} and {{i}}"
        if not _compare("gradgradcheck", df, floats, second, what, eps, atol, rtol, raise_exception):
            return False
    return True


def _arguments(
    args: tuple[SupportsFloat, ...], eps: float, check: str, atol: float = 0.0, rtol: float = 0.0
) -> list[float]:
    """The point as floats; the step and tolerances refused up front where no check could pass
    or fail for the right reason (an infinite step, a negative or NaN tolerance)."""
    if not args:
        raise TypeError(f"{check}: give at least one argument to differentiate at")
    for name, given, lowest in (("eps", eps, "> 0"), ("atol", atol, ">= 0"), ("rtol", rtol, ">= 0")):
        number = to_float(given, f"{check}: {name}")
        if not (math.isfinite(number) and (number > 0.0 if name == "eps" else number >= 0.0)):
            raise ValueError(f"{check}: {name} must be a finite number {lowest}, got {given!r}")
    for i, x in enumerate(args):
        if isinstance(x, Value):
            raise TypeError(f"{check}: argument {i} must be a plain number, not a Value")
    return [to_float(x, f"{check}: argument {i}") for i, x in enumerate(args)]


def _compare(
    check: str,
    evaluate: Callable[..., float],
    args: list[float],
    analytic: tuple[Any, ...],
    what: str,
    eps: float,
    atol: float,
    rtol: float,
    raise_exception: bool,
) -> bool:
    for i, a in enumerate(analytic):
        # The step grows with |x| beyond 1, as differences_agree's: a fixed 1e-6 is below the
        # spacing of floats at |x| = 1e10 (x + 1e-6 is x + 1.9e-6), and the slope of x came out 1.9.
        numeric = central_difference(evaluate, args, i, eps * max(1.0, abs(args[i])))
        tolerance = atol + rtol * abs(numeric)
        if not abs(a - numeric) <= tolerance:  # also fails for nan
            if not raise_exception:
                return False
            raise GradcheckError(
                f"{check}: {what.format(i=i)} is wrong at {tuple(args)}: the engine gives {a!r}, "
                f"central differences give {numeric!r} (off by {abs(a - numeric):.6g}, "
                f"tolerance {tolerance:.6g})"
            )
    return True


# --- the conformance check of one op -----------------------------------------------------------

CHECKS = ("value", "reverse", "forward", "second order", "nan")
"""What ``check_primitive`` checks, in the order it checks them."""


class ConformanceError(GradcheckError):
    """An op disagrees with its reference: value, either mode, second order or NaN handling."""


def check_primitive(
    op: Primitive | CustomOp,
    *args: SupportsFloat,
    reference: Callable[..., float] | None = None,
    checks: Iterable[str] = CHECKS,
    value_rtol: float = 1e-15,
    eps: float = 1e-6,
    atol: float = 1e-9,
    rtol: float = 1e-7,
) -> tuple[str, ...]:
    """Check one op at one point the way the test suite checks every op of the table (``microgrsucc/ops/``).

    ``op`` is a ``Primitive`` or a ``custom_op``; ``args`` a point inside its domain. The checks:

    - ``value``: the engine's value against ``reference(*args)`` (a float64 reference
      computed independently, e.g. with ``decimal``) to ``value_rtol``; skipped without one;
    - ``reverse``: ``backward()``, ``gradients()`` and ``Value.local_grads()`` agree, and
      match central differences of the forward (steps ``eps`` and ``10 * eps``, their
      ``step**2`` error extrapolated away) to ``atol + rtol * |numeric|`` wherever
      ``differences_agree`` says differences can judge;
    - ``forward``: ``jvp`` along each axis gives the same partial as reverse mode;
    - ``second order``: ``gradients(create_graph=True)`` gives the first-order partials, the
      hessian is symmetric and matches differences of the first partials (where they can
      judge);
    - ``nan``: a NaN in any argument gives a NaN value and NaN partials, raising nothing;
      only a value or partial that does not depend on that argument (``0 * x``, ``x ** 0``,
      d(x*y)/dx) may stay a number.

    Returns the names of the checks it could judge (``reverse`` and ``second order`` only
    where differences can judge at least one partial); raises ``ConformanceError`` naming
    the op, the point and the check otherwise.

    >>> import math
    >>> import microgrsucc as mg
    >>> softplus = mg.custom_op("sp", lambda x: math.log1p(math.exp(x)), lambda F, x, out: F.sigmoid(x))
    >>> check_primitive(softplus, 0.5, reference=lambda x: math.log1p(math.exp(x)))
    ('value', 'reverse', 'forward', 'second order', 'nan')
    """
    applied = op if isinstance(op, CustomOp) else CustomOp(op)
    name = applied.primitive.name
    wanted = set(checks)
    if wanted - set(CHECKS):
        raise ValueError(
            f"check_primitive: unknown checks {sorted(wanted - set(CHECKS))}; choose from {CHECKS}"
        )
    if len(args) != applied.primitive.arity:
        raise TypeError(
            f"check_primitive: {name} takes {applied.primitive.arity} argument(s), got {len(args)}"
        )
    xs = _arguments(args, eps, "check_primitive", atol, rtol)
    point = _Point(
        applied, xs, f"check_primitive: {name} at {tuple(xs)}", reference, value_rtol, eps, atol, rtol
    )
    return tuple(check for check in CHECKS if check in wanted and _CHECKERS[check](point))


class _Point(NamedTuple):
    """What every check needs: the op, the point, how errors begin, the tolerances."""

    op: CustomOp
    xs: list[float]
    where: str
    reference: Callable[..., float] | None
    value_rtol: float
    eps: float
    atol: float
    rtol: float


def _first_order(op: CustomOp, xs: Sequence[float]) -> list[float]:
    leaves = [Value(x) for x in xs]
    op(*leaves).backward()
    return [leaf.grad for leaf in leaves]


def _same(a: float, b: float, rel: float = 0.0) -> bool:
    """Equal, both NaN, or within ``rel``; with a tolerance, also one step of the smallest
    subnormal apart (no relative tolerance holds there: 5e-324 * 0.5 is a tie that rounds
    to 0.0 or to 5e-324 by the order of the operations)."""
    return (
        a == b
        or (a != a and b != b)
        or (rel > 0.0 and (math.isclose(a, b, rel_tol=rel) or abs(a - b) <= math.ulp(0.0)))
    )


def _check_value(p: _Point) -> bool:
    op, xs, where = p.op, p.xs, p.where
    out = op(*[Value(x) for x in xs])
    if out.data.__class__ is not float:
        raise ConformanceError(f"{where}: the value is a {type(out.data).__name__}, not a float")
    if p.reference is None:
        return False
    expected = float(p.reference(*xs))
    if not _same(out.data, expected, p.value_rtol):
        raise ConformanceError(f"{where}: the value is {out.data!r}, the reference gives {expected!r}")
    return True


def _check_reverse(p: _Point) -> bool:
    op, xs, where, eps = p.op, p.xs, p.where, p.eps
    leaves = [Value(x) for x in xs]
    out = op(*leaves)
    out.backward()
    analytic = [leaf.grad for leaf in leaves]
    for path, partials in (
        ("gradients()", gradients(out, leaves)),
        ("local_grads()", list(out.local_grads())),
    ):
        if not all(_same(a, b) for a, b in zip(analytic, partials, strict=True)):
            raise ConformanceError(f"{where}: backward() gives {analytic}, {path} gives {partials}")
    forward = op.primitive.forward
    judged = False
    for i, a in enumerate(analytic):
        if not differences_agree(forward, xs, i, eps):
            continue
        numeric = extrapolated_difference(forward, xs, i, eps * max(1.0, abs(xs[i])))
        if not abs(a - numeric) <= p.atol + p.rtol * abs(numeric):
            raise ConformanceError(
                f"{where}: reverse mode gives d/dx{i} = {a!r}, central differences {numeric!r}"
            )
        judged = True
    return judged


def _check_forward(p: _Point) -> bool:
    op, xs, where = p.op, p.xs, p.where
    reverse = _first_order(op, xs)
    for i, r in enumerate(reverse):
        axis = [1.0 if k == i else 0.0 for k in range(len(xs))]
        value, tangent = jvp(op, xs, axis)
        if not _same(value, op(*[Value(x) for x in xs]).data) or not _same(tangent, r):
            raise ConformanceError(
                f"{where}: jvp along argument {i} gives ({value!r}, {tangent!r}); reverse mode "
                f"gives the partial {r!r}"
            )
    return True


def _check_second_order(p: _Point) -> bool:
    op, xs, where, eps = p.op, p.xs, p.where, p.eps
    reverse = _first_order(op, xs)
    leaves = [Value(x) for x in xs]
    first = gradients(op(*leaves), leaves, create_graph=True)
    firsts = [g.data if isinstance(g, Value) else float(g) for g in first]
    if not all(_same(a, b, 1e-12) for a, b in zip(firsts, reverse, strict=True)):
        raise ConformanceError(
            f"{where}: create_graph=True gives the partials {firsts}, backward() {reverse}"
        )
    hessian = [
        [float(h) for h in gradients(g, leaves)] if isinstance(g, Value) else [0.0] * len(xs) for g in first
    ]
    n = len(xs)
    for i in range(n):
        for j in range(i):
            h, t = hessian[i][j], hessian[j][i]
            if not (_same(h, t) or math.isclose(h, t, rel_tol=1e-9, abs_tol=1e-12)):
                raise ConformanceError(f"{where}: the hessian {hessian} is not symmetric")
    judged = False
    for i in range(n):

        def partial(*ys: float, i: int = i) -> float:
            return _first_order(op, ys)[i]

        for j in range(n):
            if not differences_agree(partial, xs, j, eps):
                continue
            numeric = extrapolated_difference(partial, xs, j, eps * max(1.0, abs(xs[j])))
            if not abs(hessian[i][j] - numeric) <= p.atol + p.rtol * abs(numeric):
                raise ConformanceError(
                    f"{where}: the second derivative in arguments {i} and {j} is {hessian[i][j]!r}, "
                    f"differences of the first give {numeric!r}"
                )
            judged = True
    return judged


def _check_nan(p: _Point) -> bool:
    op, xs, where = p.op, p.xs, p.where
    for i in range(len(xs)):
        with_nan = list(xs)
        with_nan[i] = math.nan
        leaves = [Value(x) for x in with_nan]
        try:
            out = op(*leaves)
            out.backward()
        except (ArithmeticError, ValueError) as err:
            raise ConformanceError(
                f"{where}: a NaN in argument {i} raised {type(err).__name__}: {err}"
            ) from None
        got = [out.data] + [leaf.grad for leaf in leaves]
        # What does not depend on argument i at this point may stay a number: the value and
        # partials at nearby points of argument i.
        step = 1e-3 * max(1.0, abs(xs[i]))
        nearby = []
        for x in (xs[i], xs[i] - step, xs[i] + step):
            moved = list(xs)
            moved[i] = x
            try:
                probe = [Value(y) for y in moved]
                probe_out = op(*probe)
                probe_out.backward()
                nearby.append([probe_out.data] + [p.grad for p in probe])
            except (ArithmeticError, ValueError):
                nearby.append([math.nan] * len(got))
        for k, g in enumerate(got):
            if g != g:
                continue
            constant = all(row[k] == nearby[0][k] for row in nearby)
            if not (constant and g == nearby[0][k]):
                what = "the value" if k == 0 else f"the partial in argument {k - 1}"
                raise ConformanceError(f"{where}: with a NaN in argument {i}, {what} is {g!r}, not NaN")
    return True


_CHECKERS: dict[str, Callable[[_Point], bool]] = {
    "value": _check_value,
    "reverse": _check_reverse,
    "forward": _check_forward,
    "second order": _check_second_order,
    "nan": _check_nan,
}
