"""Tools for testing gradient code: gradient checks, numerical derivatives, hypothesis strategies.

``detect_anomaly`` is the engine's, re-exported here beside the other debugging aids.

``microgrsucc.testing.strategies`` needs hypothesis (``pip install "microgrsucc[test]"``);
the rest of this package needs nothing beyond the engine.
"""

from microgrsucc.core import detect_anomaly
from microgrsucc.testing.checks import GradcheckError, gradcheck, gradgradcheck
from microgrsucc.testing.numeric import central_difference, differences_are_stable

__all__ = [
    "GradcheckError",
    "central_difference",
    "detect_anomaly",
    "differences_are_stable",
    "gradcheck",
    "gradgradcheck",
]
