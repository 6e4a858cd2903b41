"""Tools for testing gradient code: numerical derivatives and hypothesis strategies.

``microgrsucc.testing.strategies`` needs hypothesis (``pip install "microgrsucc[test]"``);
the rest of this package needs nothing beyond the engine.
"""

from microgrsucc.testing.numeric import central_difference

__all__ = ["central_difference"]
