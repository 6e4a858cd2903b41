"""Bad arguments that were accepted, or refused with an error naming nothing.

Found: zero_grad([x, 1.0]) raised AttributeError ('float' object has no attribute 'grad') and
zero_grad(3) "'int' object is not iterable"; draw(y, max_nodes=1.5) drew "the 1.5 nearest the
root". Each should be a TypeError naming the argument. Prints PASS, or FAIL lines."""

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy
import microgrsucc as mg

fails = 0
x = mg.Value(2.0)
y = x * x
for name, call, words in [
    ("zero_grad([x, 1.0])", lambda: mg.zero_grad([x, 1.0]), "zero_grad"),
    ("zero_grad(3)", lambda: mg.zero_grad(3), "zero_grad"),
    ("draw(y, max_nodes=1.5)", lambda: mg.draw(y, max_nodes=1.5), "max_nodes"),
]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
        fails += 1
        print("FAIL", name, "was accepted")
    except TypeError as err:
        if words not in str(err):
            fails += 1
            print("FAIL", name, "TypeError naming nothing:", err)
    except Exception as err:
        fails += 1
        print("FAIL", name, type(err).__name__, err)
print("PASS" if not fails else f"FAIL ({fails})")
