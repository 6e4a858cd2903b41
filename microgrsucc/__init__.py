"""microgrsucc: a small, fast scalar reverse-mode automatic differentiation engine.

>>> from microgrsucc import Value
>>> a, b = Value(2.0), Value(-3.0)
>>> c = (a * b).tanh()
>>> c.backward()
>>> round(a.grad, 6)
-0.029598
"""

# The submodules become attributes, as torch.nn and torch.optim do after "import torch".
from microgrsucc import datasets, losses, nn, optim
from microgrsucc.custom_ops import CustomOp, custom_op
from microgrsucc.drawing import draw, render
from microgrsucc.engine import (
    Operand,
    Value,
    detect_anomaly,
    enable_grad,
    gradients,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
    zero_grad,
)
from microgrsucc.functions import cos, exp, log, relu, sigmoid, sin, sqrt, tanh
from microgrsucc.transforms import grad, hessian, jvp, value_and_grad

__version__ = "0.1.0"

__all__ = [
    "CustomOp",
    "Operand",
    "Value",
    "__version__",
    "cos",
    "custom_op",
    "datasets",
    "detect_anomaly",
    "draw",
    "enable_grad",
    "exp",
    "grad",
    "gradients",
    "hessian",
    "is_grad_enabled",
    "jvp",
    "log",
    "losses",
    "nn",
    "no_grad",
    "optim",
    "relu",
    "render",
    "set_grad_enabled",
    "sigmoid",
    "sin",
    "sqrt",
    "tanh",
    "value_and_grad",
    "zero_grad",
]
