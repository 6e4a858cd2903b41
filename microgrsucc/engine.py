"""The names of the engine's first layout, kept importable: ``from microgrsucc.engine import Value``.

The engine now lives on the floors of the data path: ``ops`` (the table), ``core``
(conversion, error format, modes), ``backward`` (the consumer count and the propagation
loop) and ``value`` (``Value``, recording, ``gradients``).
"""

from __future__ import annotations

from microgrsucc.backward import backward_order
from microgrsucc.core import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from microgrsucc.functions import gradients, zero_grad
from microgrsucc.value import Operand, Value

__all__ = [
    "Operand",
    "Value",
    "backward_order",
    "detect_anomaly",
    "enable_grad",
    "gradients",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
    "zero_grad",
]
