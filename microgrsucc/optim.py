"""Optimizers with PyTorch's update rules: ``SGD``, ``Adam`` and ``AdamW``.

An optimizer holds a list of parameters (leaf Values) and, on ``step()``, changes each one's
``data`` using its ``grad``; ``zero_grad()`` clears the gradients before the next ``backward()``.
As in PyTorch, a parameter whose ``grad`` is None (no ``backward()`` has reached it since the
last ``zero_grad()``) is skipped: it does not move, and its state (momentum, moments, step
count) does not advance. State is kept per parameter, in ``optimizer.state[p]``, under
PyTorch's names. A gradient left as a Value by ``backward(create_graph=True)`` counts by its
float value, so ``data`` stays a float.

Given a ``FlatParameter`` instead of a list (``SGD(flat, lr=0.1)``), an optimizer steps
``flat.data`` with numpy array arithmetic, element by element by the same rules and in the
same order of float operations, so its result is bit for bit the per-Value one; the state is
then one dict of arrays, ``optimizer.state[flat]``, as torch keeps for one tensor.

>>> from microgrsucc import Value
>>> w = Value(2.0)
>>> opt = SGD([w], lr=0.1)
>>> loss = w * w
>>> loss.backward()
>>> opt.step()  # w <- w - 0.1 * 4.0
>>> round(w.data, 12)
1.6
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from microgrsucc.core import to_float
from microgrsucc.flat import FlatParameter, owner
from microgrsucc.flat_optim import adam_step, lerp, sgd_step
from microgrsucc.functions import zero_grad
from microgrsucc.value import Value

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


class Optimizer:
    """Base class: the parameter list, per-parameter ``state``, ``zero_grad()``, and a ``step()``.

    Args:
        params: the Values to optimize (a list or any iterable; each at most once), or a
            ``FlatParameter``, whose arrays ``step()`` then updates in a few array operations.

    Attributes:
        params: the Values, as a list (for a FlatParameter, its views ``flat.params``).
        state: per parameter, a dict of its state under PyTorch's names, made at its first
            step with a gradient: ``state[p]`` of floats for each Value ``p``, or, for a
            FlatParameter, one dict ``state[flat]`` of arrays of shape ``(n,)``, element ``i``
            the state of ``flat.params[i]``.

    Raises:
        ValueError: the list is empty, or names a parameter twice; a FlatParameter that has
            been unflattened.
        TypeError: ``params`` is not an iterable (a single Value, say), or an entry is not a Value.
    """

    def __init__(self, params: Iterable[Value] | FlatParameter) -> None:
        # For a FlatParameter: step() works on its arrays; params are its views all the same.
        self._flat: FlatParameter | None = None
        if isinstance(params, FlatParameter):
            self._flat = params
            self.params = list(params.params)
            if self.params:
                self._check_flat()
        elif isinstance(params, Value) or not isinstance(params, Iterable):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Values or a FlatParameter, "
                f"got {type(params).__name__}"
                + (" (give it model.parameters())" if hasattr(params, "parameters") else "")
            )
        else:
            self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Value):
                raise TypeError(f"optimizer can only optimize Values, got {type(p).__name__}")
        if len({id(p) for p in self.params}) != len(self.params):
            # The parameter would be stepped twice per step().
            raise ValueError("optimizer got a parameter more than once")
        # Made for a parameter at its first step with a gradient, as torch.optim's state.
        self.state: dict[Value | FlatParameter, dict[str, Any]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``grad``: to None (the default, as PyTorch), else to 0.0.

        Args:
            set_to_none: None means "no gradient", so the next ``step()`` leaves a parameter
                that the next ``backward()`` does not reach alone. With ``False`` the gradient is
                0.0, which weight decay, momentum and Adam's moments still act on.
        """
        flat = self._flat
        if flat is not None and owner(self.params[0]) is flat:
            flat.zero_grad(set_to_none)
        else:  # a list, or a FlatParameter unflattened since: its Values are plain again
            zero_grad(self.params, set_to_none)

    def step(self) -> None:
        """Update every parameter that has a gradient from its ``grad``.

        A ``grad`` written by hand is taken as a float (a numpy float32 steps in float64).

        Raises:
            ValueError: the optimizer was given a FlatParameter that has been unflattened since.
            TypeError: a ``grad`` is no real number (nothing is stepped then).
        """
        raise NotImplementedError

    def _gradients(self) -> list[tuple[Value, float]]:
        """Each parameter that has a gradient, with it as a float: all read before any step, so
        a gradient written by hand that is no real number leaves every parameter as it was, and
        a numpy float32 one is stepped in float64 (as the hyperparameters are)."""
        name = type(self).__name__
        return [
            (p, to_float(g.data if isinstance(g, Value) else g, f"{name}: parameter {i}'s grad"))
            for i, p in enumerate(self.params)
            if (g := p.grad) is not None
        ]

    def _check_flat(self) -> None:
        # After unflatten() the arrays are no longer the Values' numbers: stepping them would
        # silently do nothing to the model.
        found = owner(self.params[0])  # it, or a copy.copy of it (the same arrays)
        if found is None or self._flat is None or found._data is not self._flat._data:
            raise ValueError(
                f"{type(self).__name__}: its FlatParameter has been unflattened, so its arrays no "
                "longer hold the Values; give the optimizer the Values, or a new FlatParameter"
            )


def _check(name: str, value: float, ok: bool) -> None:
    # Messages as PyTorch words them, so a search for the error finds the same answers.
    if not ok:
        raise ValueError(f"Invalid {name}: {value}")


def _hyper(optimizer: str, name: str, value: object) -> float:
    """A hyperparameter as a Python float: numpy's float32 (or float64) scalars would carry
    their own arithmetic into every step and into ``p.data``; a non-number is a TypeError."""
    return to_float(value, f"{optimizer}: {name}")


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, dampening, Nesterov and weight decay.

    As ``torch.optim.SGD``: ``g = grad + weight_decay * p`` (``-grad`` with ``maximize``); with
    momentum, the buffer is ``b = g`` on a parameter's first step and
    ``b = momentum * b + (1 - dampening) * g`` after; the step uses ``g + momentum * b`` with
    ``nesterov``, else ``b``; then ``p -= lr * step`` (``p -= lr * g`` without momentum).

    State, with momentum: ``state[p]["momentum_buffer"]``; for a FlatParameter, the arrays
    ``state[flat]["momentum_buffer"]`` and ``state[flat]["has_momentum_buffer"]`` (bool,
    False where an element has had no gradient yet, so has no buffer).

    Args:
        params: the Values to optimize, or a ``FlatParameter`` (its arrays are stepped).
        lr: learning rate, ``>= 0``.
        momentum: momentum factor, ``>= 0``.
        dampening: how much of each new gradient the buffer leaves out.
        weight_decay: L2 penalty added to the gradient, ``>= 0``.
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: climb the objective instead of descending it.

    Raises:
        ValueError: a hyperparameter out of range, with PyTorch's message
            (``Invalid learning rate: -1``), or ``nesterov`` without momentum or with dampening;
            a FlatParameter unflattened (here, or before a ``step()``).
        TypeError: a hyperparameter that is not a real number. Each is kept as a Python
            float (again at each ``step()``), so a numpy float32 ``lr`` steps in float64, as
            torch does.

    >>> w = Value(1.0)
    >>> opt = SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    >>> (2 * w).backward(); opt.step()  # b = 2; w -= 0.1 * (2 + 0.9 * 2)
    >>> round(w.data, 12)
    0.62
    """

    def __init__(
        self,
        params: Iterable[Value] | FlatParameter,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        lr, momentum = _hyper("SGD", "lr", lr), _hyper("SGD", "momentum", momentum)
        dampening, weight_decay = (
            _hyper("SGD", "dampening", dampening),
            _hyper("SGD", "weight_decay", weight_decay),
        )
        _check("learning rate", lr, lr >= 0.0)  # also rejects NaN, unlike "lr < 0: raise"
        _check("momentum value", momentum, momentum >= 0.0)
        _check("weight_decay value", weight_decay, weight_decay >= 0.0)
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params)
        self.lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self.maximize = maximize

    def step(self) -> None:
        # As floats again (a schedule may have set self.lr to a numpy scalar since); a string
        # set there is a TypeError, as in torch, not float('0.1')
        lr, momentum = _hyper("SGD", "lr", self.lr), _hyper("SGD", "momentum", self.momentum)
        dampening, wd = (
            _hyper("SGD", "dampening", self.dampening),
            _hyper("SGD", "weight_decay", self.weight_decay),
        )
        if self._flat is not None:
            self._check_flat()
            sgd_step(self._flat, self.state, lr, momentum, dampening, wd, self.nesterov, self.maximize)
            return
        for p, grad in self._gradients():
            g = -grad if self.maximize else grad
            if wd != 0.0:
                g += wd * p.data
            if momentum != 0.0:
                state = self.state.get(p)
                if state is None:  # PyTorch starts the buffer at the first gradient, not at 0
                    b = g
                    self.state[p] = state = {}
                else:
                    b = momentum * state["momentum_buffer"] + (1.0 - dampening) * g
                state["momentum_buffer"] = b
                g = g + momentum * b if self.nesterov else b
            p.data -= lr * g


class Adam(Optimizer):
    """Adam with bias-corrected moment estimates, as ``torch.optim.Adam``.

    For each parameter with a gradient, at its own step ``t``: ``g = grad + weight_decay * p``
    (``-grad`` with ``maximize``); ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g²``
    (with ``amsgrad``, ``v̂ = max(v̂, v)`` is used in place of ``v``);
    ``p -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)``.

    State: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with ``amsgrad``,
    ``max_exp_avg_sq`` (v̂); for a FlatParameter, arrays of shape ``(n,)`` in ``state[flat]``,
    ``step`` an int64 array (0 where an element has had no gradient yet).

    ``eps=0`` is allowed, as in PyTorch, with PyTorch's result: a parameter whose gradients
    have all been 0 becomes NaN (0/0), which ``detect_anomaly()`` reports at the next op that
    uses it. Keep ``eps > 0`` to avoid that.

    Args:
        params: the Values to optimize, or a ``FlatParameter`` (its arrays are stepped).
        lr: learning rate, ``>= 0``.
        betas: decay rates ``(b1, b2)`` of the first and second moment, each in ``[0, 1)``.
        eps: added to the denominator, ``>= 0``.
        weight_decay: L2 penalty added to the gradient, ``>= 0``.
        amsgrad: divide by the largest second moment seen so far (AMSGrad).
        maximize: climb the objective instead of descending it.

    Raises:
        ValueError: a hyperparameter out of range, with PyTorch's message
            (``Invalid beta parameter at index 1: 1.0``); a FlatParameter unflattened (here,
            or before a ``step()``).
        TypeError: a hyperparameter that is not a real number, or ``betas`` not a pair; each
            is kept as a Python float (again at each ``step()``), as in ``SGD``.
    """

    _decoupled = False  # AdamW decays the parameter itself instead of adding to the gradient

    def __init__(
        self,
        params: Iterable[Value] | FlatParameter,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair of numbers, got {betas!r}")
        lr, eps = _hyper(name, "lr", lr), _hyper(name, "eps", eps)
        weight_decay = _hyper(name, "weight_decay", weight_decay)
        betas = (_hyper(name, "betas[0]", betas[0]), _hyper(name, "betas[1]", betas[1]))
        _check("learning rate", lr, lr >= 0.0)
        _check("epsilon value", eps, eps >= 0.0)
        _check("beta parameter at index 0", betas[0], 0.0 <= betas[0] < 1.0)
        _check("beta parameter at index 1", betas[1], 0.0 <= betas[1] < 1.0)
        _check("weight_decay value", weight_decay, weight_decay >= 0.0)
        super().__init__(params)
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.amsgrad = amsgrad
        self.maximize = maximize

    def step(self) -> None:
        # As floats again (a schedule may have set self.lr to a numpy scalar since); a string
        # set there is a TypeError, as in torch, not float('0.1')
        name = type(self).__name__
        lr, eps = _hyper(name, "lr", self.lr), _hyper(name, "eps", self.eps)
        wd = _hyper(name, "weight_decay", self.weight_decay)
        b1, b2 = _hyper(name, "betas[0]", self.betas[0]), _hyper(name, "betas[1]", self.betas[1])
        if self._flat is not None:
            self._check_flat()
            adam_step(
                self._flat, self.state, lr, (b1, b2), eps, wd, self.amsgrad, self.maximize, self._decoupled
            )
            return
        for p, grad in self._gradients():
            g = -grad if self.maximize else grad
            state = self.state.get(p)
            if state is None:
                self.state[p] = state = {"step": 0.0, "exp_avg": 0.0, "exp_avg_sq": 0.0}
                if self.amsgrad:
                    state["max_exp_avg_sq"] = 0.0
            t = state["step"] = state["step"] + 1.0
            if wd != 0.0:
                if self._decoupled:
                    p.data *= 1.0 - lr * wd
                else:
                    g += wd * p.data
            m = state["exp_avg"] = lerp(state["exp_avg"], g, 1.0 - b1)
            v = state["exp_avg_sq"] = b2 * state["exp_avg_sq"] + (1.0 - b2) * g * g
            if self.amsgrad:
                top = state["max_exp_avg_sq"]
                v = state["max_exp_avg_sq"] = (
                    top if top >= v or top != top else v
                )  # NaN wins, as torch.maximum
            # m and v start at 0, so early averages are too small by these factors.
            step = -(lr / (1.0 - b1**t)) * m  # rounded first, as torch's addcdiv does
            denominator = math.sqrt(v) / (1.0 - b2**t) ** 0.5 + eps
            if denominator == 0.0:  # only with eps=0: divide as IEEE floats (and PyTorch) do
                p.data += math.nan if step == 0.0 else math.copysign(math.inf, step)
            else:
                p.data += step / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Each step first shrinks the parameter, ``p *= 1 - lr * weight_decay``, then takes Adam's
    step without weight decay in the gradient. Only parameters with a gradient are decayed.

    Args:
        params: the Values to optimize, or a ``FlatParameter`` (its arrays are stepped).
        lr: learning rate, ``>= 0``.
        betas: decay rates ``(b1, b2)`` of the first and second moment, each in ``[0, 1)``.
        eps: added to the denominator, ``>= 0``.
        weight_decay: decoupled decay rate, ``>= 0`` (PyTorch's default, 0.01).
        amsgrad: divide by the largest second moment seen so far (AMSGrad).
        maximize: climb the objective instead of descending it.

    Raises:
        ValueError: a hyperparameter out of range, with PyTorch's message; a FlatParameter
            unflattened (here, or before a ``step()``).
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Value] | FlatParameter,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
