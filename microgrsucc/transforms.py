"""Function transforms with JAX's names, for scalar functions of scalars.

``grad``, ``value_and_grad`` and ``hessian`` run reverse mode (``engine.gradients``);
``jvp`` runs forward mode (``forward.Dual``). ``f`` may use operators, Value methods and
the module-level functions, and returns a Value or a number.

What comes back: **plain floats** when a transform is called with plain numbers from
ordinary code, and **Values with graphs** when any argument is a Value or when it is called
from inside another reverse-mode transform's function. The second case is what makes
nesting work: ``grad(grad(f))(x)`` hands the inner ``grad`` a Value, the inner one
differentiates with ``create_graph=True`` and returns a Value, and the outermost call
returns a float, as JAX returns arrays at the outside and tracers within.

>>> from microgrsucc import grad
>>> f = lambda x: x**3
>>> grad(f)(2.0), grad(grad(f))(2.0), grad(grad(grad(f)))(2.0)
(12.0, 12.0, 6.0)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

from microgrsucc.core import enable_grad, to_float, tracing
from microgrsucc.forward import Dual
from microgrsucc.functions import gradients
from microgrsucc.value import Value, as_value, computed_without_graph

__all__ = ["grad", "value_and_grad", "hessian", "jvp"]

Argnums = int | tuple[int, ...]

# How many reverse-mode transforms are running f in this thread. Inside one, a transform
# must return Values even for plain-number arguments, since f may close over the outer
# transform's Values (grad(lambda x: grad(lambda y: x * y)(1.0))(2.0) is 1).
_state = threading.local()


class _Running:
    def __enter__(self) -> None:
        _state.depth = getattr(_state, "depth", 0) + 1

    def __exit__(self, *exc_info: object) -> None:
        _state.depth -= 1


def _nested(args: Sequence[Any]) -> bool:
    """True when results must be Values: inside another transform, or given Values."""
    return bool(getattr(_state, "depth", 0)) or any(isinstance(a, Value) for a in args)


def _normalize(argnums: Argnums, transform: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else argnums
    if not isinstance(nums, tuple) or not nums or not all(type(i) is int for i in nums):
        raise TypeError(f"{transform}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    return nums


def _inputs(args: Sequence[Any], nums: tuple[int, ...], transform: str) -> tuple[list[Any], list[Value]]:
    """The arguments to call f with, and the node standing for each differentiated one.

    Every differentiated argument gets a node of its own: a fresh leaf for a number, and
    ``x - 0.0`` for a Value, so its partial counts only this argument's uses, even where
    the same Value also reaches f another way (by a closure, or as another argument).
    (Not ``x + 0.0``: -0.0 + 0.0 is 0.0, and atan2(-0.0, -1) is -pi where atan2(0.0, -1) is pi.)
    An argument named twice in ``argnums`` (``(0, 0)``, or ``0`` and ``-2`` of two) gets
    one node, and its partial comes back in each place, as in JAX.
    """
    for i in nums:
        if not -len(args) <= i < len(args):
            raise ValueError(
                f"{transform}: argnums {i} is out of range for a call with {len(args)} argument(s)"
            )
    call = list(args)
    made: dict[int, Value] = {}
    nodes = []
    for j in nums:
        i = j % len(args)
        if i in made:
            nodes.append(made[i])
            continue
        x = args[i]
        if isinstance(x, Dual):
            raise TypeError(
                f"{transform}: argument {i} is a Dual: reverse mode cannot run inside jvp "
                "(forward mode carries float tangents and records no graph for them)"
            )
        node = x - 0.0 if isinstance(x, Value) else as_value(x, f"{transform}: argument {i}")
        call[i] = made[i] = node
        nodes.append(node)
    return call, nodes


def _evaluate(
    f: Callable[..., Any], call: Sequence[Any], kwargs: dict[str, Any], nodes: Sequence[Value], transform: str
) -> Value | float:
    # f's graph is recorded whatever mode the caller is in (as torch.func.grad in no_grad),
    # and turning a traced Value into a float is refused (see Value.__float__).
    with _Running(), enable_grad(), tracing(nodes):
        out = f(*call, **kwargs)
    if isinstance(out, Dual):
        raise TypeError(
            f"{transform}: f returned a Dual: reverse mode cannot differentiate through jvp's "
            "forward-mode tangents"
        )
    if isinstance(out, Value):
        return out
    try:
        return to_float(out, f"{transform}: f's result")
    except TypeError:
        raise TypeError(
            f"{transform}: f must return a scalar (a Value or a real number), got {type(out).__name__}"
        ) from None


def _result(x: Any, nested: bool) -> Any:
    """A Value (with its graph) when nested, else the plain float."""
    if nested:
        return as_value(x, "result")
    return x.data if isinstance(x, Value) else float(x)


def _differentiate(out: Value | float, nodes: Sequence[Value], nested: bool) -> list[Any]:
    # f ignored its inputs, or returned a result computed under an inner no_grad(), which
    # cuts it from the inputs (torch.func.grad gives 0 too)
    if not isinstance(out, Value) or computed_without_graph(out):
        return [_result(0.0, nested) for _ in nodes]
    return [_result(g, nested) for g in gradients(out, nodes, create_graph=nested)]


def value_and_grad(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., tuple[Any, Any]]:
    """Create a function that evaluates both ``f`` and its gradient.

    Args:
        f: the function to differentiate. Its positional arguments at ``argnums`` are
            scalars (plain real numbers or Values); it returns a scalar (a Value or a real
            number), computed with operators, Value methods and ``microgrsucc``'s functions.
            Keyword arguments pass through undifferentiated.
        argnums: which positional argument(s) to differentiate with respect to: an int, or
            a tuple of ints (default 0).

    Returns:
        A function with the signature of ``f`` returning ``(value, gradient)``: ``f``'s
        value and its derivative in argument ``argnums``, or a tuple of partials for a tuple
        of argnums. Plain floats when called with plain numbers; Values with graphs when
        given Values or when called inside another reverse-mode transform (so transforms
        nest).

    Raises:
        TypeError: ``f`` returns no scalar, an argument is no real number, ``argnums`` is
            malformed, or ``f`` turns a Value that depends on an argument into a number
            (``float(x)``, ``math.sin(x)``, ``f"{x:.3f}"``) or copies it (``copy.deepcopy``),
            which would lose its derivative.
        ValueError: an argnum is out of range; or an op's domain error, naming the op.

    >>> value_and_grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    (12.0, (4.0, 3.0))
    """
    return _value_and_grad(f, argnums, "value_and_grad")


def _value_and_grad(f: Callable[..., Any], argnums: Argnums, name: str) -> Callable[..., tuple[Any, Any]]:
    nums = _normalize(argnums, name)

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nested = _nested(args)
        call, nodes = _inputs(args, nums, name)
        out = _evaluate(f, call, kwargs, nodes, name)
        derivatives = _differentiate(out, nodes, nested)
        return _result(out, nested), derivatives[0] if isinstance(argnums, int) else tuple(derivatives)

    return value_and_grad_f


def grad(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """Create a function that evaluates the gradient of ``f``.

    Composes: ``grad(grad(f))`` is f''. Derivatives are taken at the values ``f`` computed.

    Args:
        f: the function to differentiate. Its positional arguments at ``argnums`` are
            scalars (plain real numbers or Values); it returns a scalar (a Value or a real
            number). Keyword arguments pass through to ``f`` undifferentiated (as in JAX).
        argnums: which positional argument(s) to differentiate with respect to: an int, or
            a tuple of ints (default 0).

    Returns:
        A function with the signature of ``f`` returning df/dx for x the argument
        ``argnums``, or a tuple of partials for a tuple. Floats for plain numbers; Values
        with graphs when given Values or inside another transform.

    Raises:
        TypeError: as ``value_and_grad``: no scalar result, a malformed argument, or a
            traced Value made a number (``float``, ``math`` functions, formatting) or copied.
        ValueError: an argnum out of range, or an op's domain error naming the op.

    >>> import microgrsucc as mg
    >>> grad(lambda x: mg.sin(x))(0.0)
    1.0
    """
    value_and_grad_f = _value_and_grad(f, argnums, "grad")

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return value_and_grad_f(*args, **kwargs)[1]

    return grad_f


def hessian(f: Callable[..., Any]) -> Callable[..., list[list[Any]]]:
    """Create a function that evaluates the matrix of second partials of ``f``.

    One reverse pass for the gradient (kept as a graph), then one per argument over it.

    Args:
        f: a function of n scalar positional arguments (real numbers or Values) returning
            a scalar; keyword arguments pass through undifferentiated.

    Returns:
        A function with the signature of ``f`` returning an n-by-n list of lists,
        ``[i][j]`` = d²f/dx_i dx_j; floats, or Values when given Values or nested.

    Raises:
        TypeError: as ``grad``.
        ValueError: an op's domain error, naming the op.

    >>> hessian(lambda x, y: x * x * y)(3.0, 5.0)
    [[10.0, 6.0], [6.0, 0.0]]
    """

    def hessian_f(*args: Any, **kwargs: Any) -> list[list[Any]]:
        nested = _nested(args)
        call, nodes = _inputs(args, tuple(range(len(args))), "hessian")
        out = _evaluate(f, call, kwargs, nodes, "hessian")
        first = _differentiate(out, nodes, nested=True)
        return [_differentiate(d, nodes, nested) for d in first]

    return hessian_f


def jvp(
    f: Callable[..., Any],
    primals: Sequence[SupportsFloat],
    tangents: Sequence[SupportsFloat],
    **kwargs: Any,
) -> tuple[float, float]:
    """Evaluate ``f`` and its directional derivative in one forward pass of dual numbers.

    Forward mode multiplies the same local derivatives as reverse mode, a zero tangent
    included (0 * inf is NaN in both, as in torch), so ``jvp`` and ``grad`` agree. Tangents
    are floats, so ``jvp`` does not nest inside ``grad`` or itself; use ``grad(grad(f))``
    or ``hessian`` for higher order.

    Args:
        f: a function of n scalar positional arguments returning a scalar; keyword
            arguments pass through to it.
        primals: the n plain real numbers to evaluate ``f`` at.
        tangents: the direction, n plain real numbers.

    Returns:
        ``(f(*primals), ∇f · tangents)``, two floats.

    Raises:
        ValueError: ``primals`` and ``tangents`` differ in length; or an op's domain error.
        TypeError: ``primals`` or ``tangents`` is not a sequence, a primal or tangent is a
            Value or no real number, ``jvp`` runs inside a reverse-mode transform or inside
            ``jvp``, or ``f`` turns a Dual into a number.

    >>> import microgrsucc as mg
    >>> jvp(lambda x, y: x * mg.exp(y), (3.0, 0.0), (1.0, 2.0))
    (3.0, 7.0)
    """
    if not all(hasattr(xs, "__len__") and hasattr(xs, "__iter__") for xs in (primals, tangents)):
        kinds = f"{type(primals).__name__} and {type(tangents).__name__}"
        raise TypeError(
            f"jvp: primals and tangents must be sequences of numbers (one per argument), got {kinds}"
        )
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    if getattr(_state, "depth", 0):
        raise TypeError("jvp cannot run inside a reverse-mode transform: its tangents are plain floats")
    duals = []
    for i, (p, t) in enumerate(zip(primals, tangents, strict=True)):
        if isinstance(p, Value) or isinstance(t, Value):
            raise TypeError(f"jvp: primal and tangent {i} must be plain real numbers, not Values")
        duals.append(Dual(to_float(p, f"jvp: primal {i}"), to_float(t, f"jvp: tangent {i}")))
    if getattr(_state, "forward", 0):
        # An outer jvp's Dual met by the inner one's would mix the two tangents (perturbation
        # confusion) and give a wrong number without a word.
        raise TypeError("jvp cannot run inside jvp: its tangents are plain floats; use hessian")
    # Duals record their ops too (no_grad would cut what drawing shows), and float() of one
    # is refused as in the other transforms: math.sin(x) would drop the tangent silently.
    _state.forward = 1
    try:
        with enable_grad(), tracing(duals):
            out = f(*duals, **kwargs)
    finally:
        _state.forward = 0
    if isinstance(out, Dual):
        return out.data, out.tangent
    if isinstance(out, Value):  # a Value with no tangent: a constant as far as the inputs go
        return out.data, 0.0
    return to_float(out, "jvp: f's result"), 0.0
