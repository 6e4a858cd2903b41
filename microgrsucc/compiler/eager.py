"""The trace run by the eager engine: the reference the generated code must agree with.

Generated code hands a batch over to this when a table function's domain check fails,
when Python raises inside it, or while a mode (``detect_anomaly``, ``no_grad``) is set:
the eager engine then raises its own error, naming the op and the operands, or gives its
own result. Gradients go to copies of the parameters, so nothing is written on failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microgrsucc.compiler.trace import CONST, INPUT, OP, PARAM, Trace
from microgrsucc.core import state
from microgrsucc.recording import recorder
from microgrsucc.value import Value, as_value

__all__ = ["replay"]


def replay(
    trace: Trace, params: Sequence[Value], samples: Sequence[Sequence[Any]], backward: bool
) -> tuple[float, list[float]]:
    """The sum of the sample losses, and of their gradients for ``params`` (if ``backward``)."""
    copies = [Value(p.data) for p in params]
    apply = {id(op): recorder(op) for op in trace.used_primitives()}
    total = 0.0
    # Under detect_anomaly() every forward pass runs before any backward, as in eager mode's
    # one graph: a later sample's domain error comes before an earlier one's infinite gradient.
    deferred: list[Value] | None = [] if backward and state.anomaly else None
    for sample in samples:
        nodes: list[Value] = []
        for kind, op, args, payload in zip(trace.kinds, trace.ops, trace.args, trace.payload, strict=True):
            if kind == INPUT:
                nodes.append(as_value(sample[int(payload)], f"compile: sample argument {payload}"))
            elif kind == PARAM:
                nodes.append(copies[int(payload)])
            elif kind == CONST:
                nodes.append(Value(payload))
            else:
                assert kind == OP and op is not None
                nodes.append(apply[id(op)](*[nodes[j] for j in args]))
        root = nodes[trace.root]
        total += root.data
        if deferred is not None:
            deferred.append(root)
        elif backward:
            root.backward()
    for root in deferred or ():
        root.backward()
    return total, [c.grad for c in copies]
