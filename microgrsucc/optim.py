"""Optimizers with PyTorch's update rules: ``SGD`` and ``Adam``.

An optimizer holds a list of parameters (leaf Values) and, on ``step()``, changes each one's
``data`` using its ``grad``; ``zero_grad()`` clears the gradients before the next ``backward()``.
A gradient left as a Value by ``backward(create_graph=True)`` counts by its float value, so
``data`` stays a float.

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

from microgrsucc.functions import zero_grad
from microgrsucc.value import Value

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Base class: the parameter list, ``zero_grad()``, and a ``step()`` for subclasses to write."""

    def __init__(self, params: Iterable[Value]) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Value):
                raise TypeError(f"optimizer can only optimize Values, got {type(p).__name__}")
        if len({id(p) for p in self.params}) != len(self.params):
            # The parameter would be stepped twice per step().
            raise ValueError("optimizer got a parameter more than once")

    def zero_grad(self) -> None:
        """Set the ``grad`` of every parameter to 0.0."""
        zero_grad(self.params)

    def step(self) -> None:
        """Update every parameter from its ``grad``."""
        raise NotImplementedError


def _grads(params: list[Value]) -> list[float]:
    """Each parameter's gradient as a float (a Value after ``backward(create_graph=True)``)."""
    return [g.data if isinstance(g, Value) else g for g in (p.grad for p in params)]


def _check(name: str, value: float, ok: bool) -> None:
    # Messages as PyTorch words them, so a search for the error finds the same answers.
    if not ok:
        raise ValueError(f"Invalid {name}: {value}")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and weight decay (L2).

    As ``torch.optim.SGD``: ``g = grad + weight_decay * p``; with momentum, the buffer is
    ``b = g`` on the first step and ``b = momentum * b + g`` after; then ``p -= lr * b``
    (or ``p -= lr * g`` without momentum).
    """

    def __init__(
        self, params: Iterable[Value], lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        _check("learning rate", lr, lr >= 0.0)  # also rejects NaN, unlike "lr < 0: raise"
        _check("momentum value", momentum, momentum >= 0.0)
        _check("weight_decay value", weight_decay, weight_decay >= 0.0)
        super().__init__(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self._buffers: list[float] | None = None  # momentum buffers, made by the first step

    def step(self) -> None:
        lr, momentum, wd = self.lr, self.momentum, self.weight_decay
        grads = _grads(self.params)
        if momentum == 0.0:
            for p, g in zip(self.params, grads, strict=True):
                p.data -= lr * (g + wd * p.data)
            return
        if self._buffers is None:  # PyTorch starts the buffer at the first gradient, not at 0
            self._buffers = [g + wd * p.data for p, g in zip(self.params, grads, strict=True)]
        else:
            self._buffers = [
                momentum * b + g + wd * p.data
                for b, p, g in zip(self._buffers, self.params, grads, strict=True)
            ]
        for p, b in zip(self.params, self._buffers, strict=True):
            p.data -= lr * b


class Adam(Optimizer):
    """Adam with bias-corrected moment estimates, as ``torch.optim.Adam`` (no AMSGrad).

    ``g = grad + weight_decay * p``; ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g²``;
    at step ``t``: ``p -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)``.

    ``eps=0`` is allowed, as in PyTorch, with PyTorch's result: a parameter whose gradients
    have all been 0 becomes NaN (0/0), which ``detect_anomaly()`` reports at the next op that
    uses it. Keep ``eps > 0`` to avoid that.
    """

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
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
        self.t = 0  # steps taken, for the bias corrections
        self._m = [0.0] * len(self.params)
        self._v = [0.0] * len(self.params)

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        # m and v start at 0, so early averages are too small by these factors.
        step_size = self.lr / (1.0 - b1**self.t)
        v_scale = math.sqrt(1.0 - b2**self.t)
        m, v, eps, wd = self._m, self._v, self.eps, self.weight_decay
        for i, (p, grad) in enumerate(zip(self.params, _grads(self.params), strict=True)):
            g = grad + wd * p.data
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * g * g
            denominator = math.sqrt(v[i]) / v_scale + eps
            if denominator == 0.0:  # only with eps=0: divide as IEEE floats (and PyTorch) do
                p.data -= step_size * (math.nan if m[i] == 0.0 else math.copysign(math.inf, m[i]))
            else:
                p.data -= step_size * m[i] / denominator
