"""The table of primitives: each op's forward and its local derivative, side by side.

This package is the only place that knows what an op computes. The engine records a node
per op application and, in ``backward()``, multiplies the upstream gradient by the partials
written here. The table reads like the back of a calculus book, one family per module:
``elementary`` (arithmetic, powers, exp/log, circular and hyperbolic functions, erf, and the
ops of two inputs) and ``activations`` (``torch.nn.functional``'s). Both fill the one registry
``PRIMITIVES``, in that order; everything else (methods, module functions, forward mode, the
command line, pictures, compile, strategies) reads the registry, so an entry appended to a
family module (``PRIMITIVES[op.name] = op``) is an op everywhere. ``primitive`` says what an
entry is.
"""

# ruff: noqa: F401 (the entries are re-exported: ops.mul, ops.gelu, ...)
from __future__ import annotations

from microgrsucc.ops.primitive import (
    DEFAULT_DOMAIN, FLOAT, PRIMITIVES, Domain, Parametric, Primitive, _builtin, _custom, register,
)  # fmt: skip

# isort: split
from microgrsucc.ops.elementary import (
    abs_, acos, acosh, add, asin, asinh, atan, atan2, atanh, cos, cosh, div, erf, erfc, exp, exp2, expm1,
    fmod, hypot, log, log1p, log2, log10, maximum, minimum, mul, neg, pow, pow_const, remainder, sin, sinh,
    sqrt, sub, tan, tanh,
)  # fmt: skip

# isort: split
from microgrsucc.ops.activations import (
    celu, celu_of, clamp, clamp_of, elu, elu_of, gelu, gelu_of, hardsigmoid, hardswish, hardtanh,
    hardtanh_of, leaky_relu, leaky_relu_of, mish, relu, relu6, selu, sigmoid, silu, softplus, softplus_of,
    softsign,
)  # fmt: skip

__all__ = [
    "Primitive", "Parametric", "PRIMITIVES", "FLOAT", "DEFAULT_DOMAIN", "Domain", "pow_const", "register",
]  # fmt: skip
