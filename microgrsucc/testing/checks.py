"""``gradcheck`` and ``gradgradcheck``: the engine's derivatives against central differences.

As in PyTorch: a derivative passes when ``|analytic - numeric| <= atol + rtol * |numeric|``,
with the numeric one from central differences of step ``eps`` in float64. A failure raises
``GradcheckError`` naming the argument and the two numbers, or returns False with
``raise_exception=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

from microgrsucc.core import to_float
from microgrsucc.testing.numeric import central_difference
from microgrsucc.transforms import grad
from microgrsucc.value import Value

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


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

    >>> import math
    >>> import microgrsucc as mg
    >>> gradcheck(lambda x, y: x * mg.exp(y), 1.5, -0.5)
    True
    >>> wrong = mg.custom_op("wrong_exp", math.exp, lambda F, x, out: 2 * out)
    >>> gradcheck(wrong, 0.3, raise_exception=False)
    False
    """
    floats = _arguments(args, eps, "gradcheck")
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
    floats = _arguments(args, eps, "gradgradcheck")
    for j in range(len(floats)):
        df = grad(f, argnums=j)  # on plain numbers it returns floats, so it is its own reference
        second = grad(df, argnums=tuple(range(len(floats))))(*floats)
        what = f"the second derivative in arguments {j} and {{i}}"
        if not _compare("gradgradcheck", df, floats, second, what, eps, atol, rtol, raise_exception):
            return False
    return True


def _arguments(args: tuple[SupportsFloat, ...], eps: float, check: str) -> list[float]:
    if not args:
        raise TypeError(f"{check}: give at least one argument to differentiate at")
    if not eps > 0.0:
        raise ValueError(f"{check}: eps must be > 0, got {eps!r}")
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
        numeric = central_difference(evaluate, args, i, eps)
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
