"""The command line's graph with torch's spelling of clamp (clamp(x, 0, 1)).

Found: `graph` listed clamp among its functions, but clamp(x, 0, 1) said "clamp() takes
exactly one argument" and clamp(x) "give at least one of min, max", with no word that the
bounds go by name (clamp(x, min=0, max=1)). Prints PASS, or FAIL lines."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
from microgrsucc.cli.expr import ExpressionError, parse

fails = 0
try:
    parse("clamp(x, 0, 1)").evaluate({"x": 2.0})
    print("FAIL clamp(x, 0, 1) gave no error")
    fails += 1
except ExpressionError as err:
    if "clamp(x, min=..., max=...)" not in str(err):
        print("FAIL the error does not show the constants by name:", err)
        fails += 1
if parse("clamp(x, min=0, max=1)").evaluate({"x": 2.0}).data != 1.0:
    print("FAIL clamp(x, min=0, max=1) at 2 is not 1")
    fails += 1
print("PASS" if not fails else f"FAIL ({fails})")
