"""Where a numba kernel's arrays live: views of one float64 workspace per thread, laid out
when the kernel is written, and each layer's positions in one int array.

A kernel that made its arrays at each call (34 of them at W=16) spent more time allocating
and zeroing them than a small layer's arithmetic takes; so ``Layout.carve`` gives each array
a position in the workspace as the emitter writes the code that uses it, and ``workspace``
makes that many floats once per thread. A layer's weights' positions in the parameters,
its bias parameters and constant biases go to the kernel as two arrays, ``IX`` and ``FC``
(``Layout.tables``), not four arrays per layer: numba's dispatch costs per argument.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from microgrsucc.compiler.layers import Block
from microgrsucc.compiler.trace import CONST, PARAM, Trace

__all__ = ["LAYER_ENTRY", "Layout", "workspace"]

# A layer's entry in the kernel's int array IX, at a position printed in the kernel: its units
# m, inputs n and bias parameters k; where in IX its weights' positions in PV are (m * n, unit
# by unit) and its biases' units and parameters (k each); where in FC its constant biases are
# (m); and where in WS its arrays are (W, its transpose, their gradients: m * n each; b, gb: m).
LAYER_ENTRY = 8


class Layout:
    """The workspace's arrays, in the order the kernel's code asks for them: ``floats`` is
    the size so far; ``entries`` the layers, each with the position of its arrays."""

    def __init__(self) -> None:
        self.floats = 0
        self.entries: list[tuple[Block, int]] = []

    def carve(self, floats: int) -> int:
        """The position in the workspace ``WS`` of a new array of ``floats`` floats, at the start
        of a cache line (64 bytes)."""
        at = self.floats
        self.floats += -(-floats // 8) * 8
        return at

    def layer(self, b: Block) -> int:
        """Room for the layer ``b``'s arrays (``_gather``'s), and the position of its entry in ``IX``."""
        units, inputs = len(b.members), len(b.key)
        self.entries.append((b, self.carve(4 * units * inputs + 2 * units)))
        return LAYER_ENTRY * (len(self.entries) - 1)

    def tables(self, t: Trace) -> tuple[Any, Any]:
        """The kernel's ``IX`` (each layer's entry, ``LAYER_ENTRY`` ints, then their positions)
        and ``FC`` (the layers' constant biases)."""
        entries: list[int] = []
        ints: list[int] = []
        floats: list[float] = []
        start = LAYER_ENTRY * len(self.entries)
        for b, at in self.entries:
            pairs = [(col, j) for col, js in enumerate(b.biases) for j in js]
            # Each unit's sum starts at -0.0, the sum's identity (x + -0.0 is x, also for
            # x = -0.0), as eager mode's first term starts it; +0.0 would turn -0.0 into +0.0.
            constant = [-0.0] * len(b.members)
            for col, j in pairs:
                if t.kinds[j] == CONST:
                    constant[col] += t.payload[j]
            bias_params = [(col, int(t.payload[j])) for col, j in pairs if t.kinds[j] == PARAM]
            iw = start + len(ints)
            ints += [w for row in b.weights for w in row]
            br = start + len(ints)
            ints += [col for col, _ in bias_params]
            bp = start + len(ints)
            ints += [p for _, p in bias_params]
            entries += [len(b.members), len(b.key), len(bias_params), iw, br, bp, len(floats), at]
            floats += constant
        return np.array(entries + ints, dtype=np.intp), np.array(floats, dtype=np.float64)


def workspace(floats: int) -> Callable[[], Any]:
    """``get() -> WS``: the calling thread's workspace of ``floats`` float64 (zeros when made, then
    kept), whose views are the kernel's arrays: a call in another thread gets its own.

    It starts at a cache line (64 bytes), as the kernel's arrays in it do: numpy promises 16
    bytes, and a workspace 16 bytes off made the kernel 1.3x slower at W=128 (vector loads
    across two lines)."""
    local = threading.local()

    def get() -> Any:
        found = getattr(local, "WS", None)
        if found is None:
            raw = np.zeros(floats + 8)
            start = (-raw.ctypes.data % 64) // 8
            found = local.WS = raw[start : start + floats]
        return found

    return get
