"""The numpy backend's code for layers: where each block's columns live (a buffer of the
arena, with a column of ones beside it where the next layer folds its bias into the
product), which relus run in their layer's own buffer, and the statements of a layer's
matrix products forward and backward. ``numpy_code.py`` writes the rest of a trace.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microgrsucc import ops
from microgrsucc.compiler.layers import Block, columns, name_blocks, relu_alone
from microgrsucc.compiler.numpy_runtime import RELU, Spec, span
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.trace import INPUT, PARAM, Trace

__all__ = ["LayerCode"]


class LayerCode:
    """The blocks of a trace (``layers.find_blocks``), named, with their buffers and the code
    of their layers. ``expr[i]`` is node i's expression, filled in by the writer of the rest."""

    def __init__(self, trace: Trace, plan: Plan, blocks: list[Block]) -> None:
        self.t, self.plan, self.blocks = trace, plan, blocks
        self.block_of = name_blocks(blocks)
        self.consts: dict[str, Any] = {}
        self.arena: Spec = {}
        self.expr: list[str | None] = [None] * len(trace.kinds)
        self.in_place, self.folded = self.fast_paths()

    def fast_paths(self) -> tuple[set[str], dict[str, str | None]]:
        """The relu maps computed in their layer's buffer (its columns used by the relu alone),
        and the layers that fold their bias into the product, each with the block whose buffer
        carries the column of ones (None: the samples, copied into a buffer of their own)."""
        t, plan = self.t, self.plan
        uses = plan.uses
        relu = ops.PRIMITIVES.get("relu")
        in_place: set[str] = set()
        for b in self.blocks:
            source = b.source
            if (
                b.kind == "map"
                and RELU is not None
                and source is not None
                and source.kind == "layer"
                and t.ops[b.members[0]] is relu
                and all(uses[m] == 1 for m in source.members)
            ):
                in_place.add(b.name)
        folded: dict[str, str | None] = {}
        for b in self.blocks:
            if b.kind != "layer" or not self.bias_vector(b):
                continue
            whole = self.whole(b.key)
            if whole is not None and whole.kind != INPUT:
                if whole.kind == "layer" or whole.name in in_place:
                    owner = whole.source if whole.name in in_place else whole
                    assert owner is not None
                    folded[b.name] = owner.name
                    self.buffer(owner.name, None, len(owner.members), ones=True)
            elif all(t.kinds[a] == INPUT for a in b.key):
                folded[b.name] = None
        return in_place, folded

    def padded(self, b: Block) -> bool:
        """Whether ``b`` is a relu in place on a buffer with a column of ones: its gradient and
        mask get a column too, so that they are updated in contiguous passes."""
        source = b.source
        return (
            b.name in self.in_place and source is not None and self.arena.get(source.name, (0, 0, False))[2]
        )

    def bias_vector(self, b: Block) -> bool:
        """Whether each dot of the layer ``b`` adds one parameter as its bias (read from PV)."""
        return all(len(js) == 1 and self.t.kinds[js[0]] == PARAM for js in b.biases)

    def whole(self, key: tuple[int, ...]) -> Block | None:
        """The block whose columns are the nodes ``key``, all of them in order, if there is one."""
        found = self.block_of.get(key[0])
        if found is None or found[1] != 0 or len(key) != len(found[0].members):
            return None
        b = found[0]
        return b if all(self.block_of.get(m) == (b, i) for i, m in enumerate(key)) else None

    def columns(self, key: tuple[int, ...]) -> str:
        """The batch of the nodes ``key`` as a (batch, len(key)) array expression."""
        found = columns(self.block_of, key)
        return found or f"np.column_stack(({', '.join(self.expr[m] or '' for m in key)},))"

    def layer_forward(self, b: Block, out: list[str]) -> None:
        """``Z = A @ W.T + bias`` into the layer's buffer: the bias folded into the product (a
        column of ones beside A) where A is a whole block or samples copied into a buffer."""
        t, name = self.t, b.name
        k = len(b.key)
        fold = name in self.folded
        index = (
            [[*w, int(t.payload[js[0]])] for w, js in zip(b.weights, b.biases, strict=True)]
            if fold
            else b.weights
        )
        self.consts[f"_W{name}"] = np.array(index, dtype=np.intp)
        self.buffer(name, None, len(b.members))
        run = span(index)
        if run is None:
            self.buffer(f"W{name}", len(b.members), k + fold)
            out.append(f"np.take(PV, _W{name}, out=W{name})")
        else:  # the weights in order: a view of the vector
            out.append(f"W{name} = PV[{run.start}:{run.stop}].reshape({len(b.members)}, {k + fold})")
        signed = not relu_alone(self.plan, self.blocks, b)  # eager mode's -0.0 sums restored
        if fold:
            source = self.folded[name]
            if source is None:  # samples (or scattered columns) copied beside a column of ones
                self.buffer(f"I{name}", None, k, ones=True)
                out.append(f"I{name}[...] = {self.columns(b.key)}")
                source = f"I{name}"
            out.append(f"np.matmul({source}_1, W{name}.T, out={name})")
            if signed:
                out.append(f"_negative_zeros({name}, {source}_1, W{name})")
            return
        operand = self.columns(b.key)
        if signed and "(" in operand:  # columns gathered by np.column_stack: once
            out.append(f"A{name} = {operand}")
            operand = f"A{name}"
        out.append(f"np.matmul({operand}, W{name}.T, out={name})")
        if signed:
            out.append(f"_negative_zeros({name}, {operand}, W{name})")
        if self.bias_vector(b):
            self.consts[f"_b{name}"] = np.array([t.payload[js[0]] for js in b.biases], dtype=np.intp)
            out.append(f"{name} += PV[_b{name}]")
        elif any(b.biases):
            sums = [" + ".join(self.expr[j] or "" for j in js) or "0.0" for js in b.biases]
            out.append(f"{name} += np.array([{', '.join(sums)}])")

    def buffer(
        self, name: str, rows: int | None, columns: int, *, ones: bool = False, dtype: str = "float64"
    ) -> None:
        """A buffer of the arena: (rows or the batch, columns), and a column of ones beside it
        (``name_1`` is the whole) where a layer folds its bias into the product."""
        known = self.arena.get(name)
        ones = ones or (known is not None and known[2])
        self.arena[name] = (rows, columns, ones, dtype)

    def layer_backward(self, b: Block, d: str, out: list[str]) -> None:
        """The gradient of a layer's weights and biases: ``dZ.T @ A`` (the bias's column sums
        come with it where the bias is folded), else the biases as ``ones @ dZ``."""
        t, name = self.t, b.name
        index = self.consts[f"_W{name}"]
        fold = name in self.folded
        self.buffer(f"gW{name}", len(b.members), len(b.key) + fold)
        source = f"{self.folded[name] or f'I{name}'}_1" if fold else self.columns(b.key)
        out.append(f"np.matmul({d}.T, {source}, out=gW{name})")
        run = span(index)
        if run is not None:
            out.append(f"G[{run.start}:{run.stop}] += gW{name}.ravel()")
        elif len(set(index.ravel().tolist())) == index.size:
            out.append(f"G[_W{name}] += gW{name}")
        else:
            out.append(f"np.add.at(G, _W{name}, gW{name})")
        if fold:
            return
        sums = [
            (int(t.payload[j]), col) for col, js in enumerate(b.biases) for j in js if t.kinds[j] == PARAM
        ]
        if sums:
            out.append(f"_s = _ones @ {d}")  # column sums, by BLAS
            if len({pj for pj, _ in sums}) == len(sums):
                self.consts[f"_bp{name}"] = np.array([pj for pj, _ in sums], dtype=np.intp)
                self.consts[f"_bc{name}"] = np.array([col for _, col in sums], dtype=np.intp)
                out.append(f"G[_bp{name}] += _s[_bc{name}]")
            else:
                out += [f"G[{pj}] += _s[{col}]" for pj, col in sums]
