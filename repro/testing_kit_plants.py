"""The testing kit catches planted wrong derivatives and passes correct ones at domain edges."""
import math
import microgrsucc as mg
from microgrsucc.testing import check_primitive, gradcheck, gradgradcheck, ConformanceError, GradcheckError

fails = 0


def expect(name, fn, should_raise):
    global fails
    try:
        r = fn()
        raised = r is False
        info = r
    except (ConformanceError, GradcheckError) as e:
        raised, info = True, str(e)[:120]
    except Exception as e:  # noqa: BLE001
        raised, info = None, f"{type(e).__name__}: {e}"[:160]
    ok = raised == should_raise
    fails += not ok
    print(("PASS " if ok else "FAIL ") + f"{name}: {'caught' if raised else 'passed'} ({info})")


sq = mg.custom_op("sq_ok", lambda x: x * x, lambda F, x, out: 2.0 * x)
sq_bad = mg.custom_op("sq_bad", lambda x: x * x, lambda F, x, out: 2.0 * x + 1e-4)
sq_value = mg.custom_op("sq_value", lambda x: x * x, lambda F, x, out: 2.0 * F.value(x))
sq_sign = mg.custom_op("sq_sign", lambda x: x * x, lambda F, x, out: abs(2.0 * x))  # wrong for x < 0
div = mg.custom_op("div_bad", lambda x, y: x / y, lambda F, x, y, out: (1.0 / y, x / (y * y)))  # sign of dy
expect("correct square", lambda: check_primitive(sq, 1.5), False)
expect("square off by 1e-4", lambda: check_primitive(sq_bad, 1.5), True)
expect("square via F.value: second order", lambda: check_primitive(sq_value, 1.5), True)
expect("abs-slope at -2", lambda: check_primitive(sq_sign, -2.0), True)
expect("div sign of dy", lambda: check_primitive(div, 1.0, 2.0), True)
expect("gradcheck div sign", lambda: gradcheck(div, 1.0, 2.0, raise_exception=False), True)
expect("gradgradcheck via F.value", lambda: gradgradcheck(sq_value, 1.5, raise_exception=False), True)
# correct ops at domain edges
for name, args in [("sqrt", (1e-3,)), ("log", (1e-4,)), ("acosh", (1.0001,)), ("atanh", (0.9999,)),
                   ("asin", (0.999,)), ("exp", (700.0,)), ("log1p", (-0.999,)), ("tan", (1.57,)),
                   ("erfc", (25.0,)), ("relu", (0.0,)), ("abs", (0.0,)), ("**", (0.0, 2.0)),
                   ("atan2", (0.0, -1.0)), ("hypot", (0.0, 0.0)), ("fmod", (5.0, 3.0)),
                   ("remainder", (-5.5, 2.0)), ("sigmoid", (-700.0,)), ("softplus", (30.0,)),
                   ("gelu", (-8.0,)), ("mish", (-40.0,))]:
    op = mg.ops.PRIMITIVES[name]
    expect(f"correct {name} at {args}", lambda op=op, args=args: check_primitive(op, *args), False)
print("PASS" if not fails else f"FAIL ({fails})")
