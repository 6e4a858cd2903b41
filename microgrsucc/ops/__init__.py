"""The table of primitives: each op's forward and its local derivative, side by side.

This package is the only place that knows what an op computes. The engine records a node
per op application and, in ``backward()``, multiplies the upstream gradient by the partials
written here. The table reads like the back of a calculus book, one family per module:
``elementary`` (arithmetic, powers, exp/log, circular and hyperbolic functions, erf, and the
ops of two inputs) and ``activations`` (``torch.nn.functional``'s). Both fill the one registry
``PRIMITIVES``, in that order; everything else (methods, module functions, forward mode, the
command line, pictures, compile, strategies) reads the registry, so an entry appended to a
family module (``register(op)``) is an op everywhere. ``primitive`` says what an
entry is.
"""

from __future__ import annotations

from microgrsucc.ops.primitive import (
    DEFAULT_DOMAIN,
    FLOAT,
    PRIMITIVES,
    Domain,
    Parametric,
    Primitive,
    register,
)

# isort: split
# The entries, family by family (ops.mul, ops.gelu, ops.gelu_of, ...), in the registry's order.
from microgrsucc.ops.elementary import *  # noqa: F403
from microgrsucc.ops.elementary import pow_const as pow_const

# isort: split
from microgrsucc.ops.activations import *  # noqa: F403

__all__ = ["Primitive", "Parametric", "PRIMITIVES", "FLOAT", "DEFAULT_DOMAIN", "Domain", "register"]
