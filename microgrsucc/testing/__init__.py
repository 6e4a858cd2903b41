"""Tools for testing gradient code: gradient checks, the conformance check of one op
(``check_primitive``, what the test suite runs on every op of the table), numerical
derivatives, hypothesis strategies.

``detect_anomaly`` is the engine's, re-exported here beside the other debugging aids.

``microgrsucc.testing.strategies`` needs hypothesis (``pip install "microgrsucc[test]"``);
the rest of this package needs nothing beyond the engine.
"""

from microgrsucc.core import detect_anomaly
from microgrsucc.testing.checks import (
    CHECKS,
    ConformanceError,
    GradcheckError,
    check_primitive,
    gradcheck,
    gradgradcheck,
)
from microgrsucc.testing.numeric import central_difference, differences_agree

__all__ = [
    "CHECKS",
    "ConformanceError",
    "GradcheckError",
    "central_difference",
    "check_primitive",
    "detect_anomaly",
    "differences_agree",
    "gradcheck",
    "gradgradcheck",
]
