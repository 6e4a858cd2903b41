"""A custom op whose derivative raises inside backward().

Found: sqrt written as a custom op with derivative 0.5 / out, differentiated at 0, raised
"ZeroDivisionError: float division by zero" from backward(), naming neither the op nor the
point; its forward's errors name both ("c(-1.0): math domain error"). Prints PASS or FAIL."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg

root = mg.custom_op("root_op", lambda x: math.sqrt(x), lambda F, x, out: 0.5 / out)
x = mg.Value(0.0)
try:
    root(x).backward()
    print("FAIL no error")
except ZeroDivisionError as err:
    print("PASS" if "root_op" in str(err) and "0.0" in str(err) else f"FAIL the error names nothing: {err}")
