"""microgrsucc: a small, fast scalar reverse-mode automatic differentiation engine.

>>> from microgrsucc import Value
>>> a, b = Value(2.0), Value(-3.0)
>>> c = (a * b).tanh()
>>> c.backward()
>>> round(a.grad, 6)  # d tanh(ab)/da = b * (1 - tanh(ab)**2), at ab = -6
-7.4e-05
"""

from typing import TYPE_CHECKING

# The submodules become attributes, as torch.nn and torch.optim do after "import torch".
from microgrsucc import datasets, losses, nn, optim
from microgrsucc.backward import backward_order
from microgrsucc.compiler import compile
from microgrsucc.core import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from microgrsucc.custom_ops import CustomOp, custom_op
from microgrsucc.drawing import draw
from microgrsucc.flat import FlatParameter
from microgrsucc.functions import FUNCTIONS, gradients, zero_grad
from microgrsucc.gcscope import collector_paused
from microgrsucc.rendering import render
from microgrsucc.transforms import grad, hessian, jvp, value_and_grad
from microgrsucc.value import Operand, Value

__version__ = "0.1.0"

# microgrsucc.exp and friends: one function per primitive of the table (microgrsucc.ops).
globals().update(FUNCTIONS)

if TYPE_CHECKING:  # what mypy sees of them; tests/test_table.py keeps this equal to the table
    from microgrsucc.declarations import abs, cos, exp, log, neg, relu, sigmoid, sin, sqrt, tanh  # noqa: F401

__all__ = [
    "CustomOp",
    "FlatParameter",
    "Operand",
    "Value",
    "__version__",
    "backward_order",
    "collector_paused",
    "compile",
    "custom_op",
    "datasets",
    "detect_anomaly",
    "draw",
    "enable_grad",
    "grad",
    "gradients",
    "hessian",
    "is_grad_enabled",
    "jvp",
    "losses",
    "nn",
    "no_grad",
    "optim",
    "render",
    "set_grad_enabled",
    "value_and_grad",
    "zero_grad",
    *FUNCTIONS,
]
