"""Finding the matrix products in a traced graph, for the numpy backend.

A node ``b + w1*a1 + w2*a2 + ...`` (a chain of adds of parameter-times-node products, with
parameters or constants as the bias) is a *dot*. Dots over the same nodes ``a1, a2, ...``,
in the same order, are one layer: ``Z = A @ W.T + b`` for a whole batch in one call, with
``dW = dZ.T @ A`` and ``dA = dZ @ W`` on the way back. The same unary op applied to every
column of a block (``relu`` of each neuron) is one block too, so the next layer reads it
without stacking columns. Everything else stays one column per node.
"""

from __future__ import annotations

from microgrsucc import ops
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.trace import CONST, INPUT, OP, PARAM

__all__ = ["Block", "find_blocks"]


class Block:
    """Nodes computed together as the columns of one (batch, width) array.

    ``kind`` is ``"input"`` (the samples), ``"layer"`` (a matrix product) or ``"map"`` (a unary
    op of every column of ``source``). A layer reads ``key`` (its input nodes) with weights
    ``weights[j][i]`` (parameter positions) and ``biases[j]`` (nodes: parameters or constants).
    """

    def __init__(self, kind: str, members: list[int]) -> None:
        self.kind = kind
        self.members = members
        self.key: tuple[int, ...] = ()
        self.weights: list[list[int]] = []
        self.biases: list[list[int]] = []
        self.source: Block | None = None
        self.name = ""

    @property
    def first(self) -> int:
        return min(self.members)


def _dot(plan: Plan, z: int, uses: list[int]) -> tuple[list[tuple[int, int]], list[int]] | None:
    """The products (weight position, node) and bias nodes of a dot, or None."""
    t = plan.trace
    add, mul = ops.PRIMITIVES["+"], ops.PRIMITIVES["*"]
    products: list[tuple[int, int]] = []
    biases: list[int] = []
    stack = [z]
    while stack:
        i = stack.pop()
        if t.kinds[i] == OP and t.ops[i] is add and (i == z or (uses[i] == 1 and plan.varying[i])):
            a, b = t.args[i]
            stack += [b, a]
        elif t.kinds[i] in (PARAM, CONST):
            biases.append(i)
        elif t.kinds[i] == OP and t.ops[i] is mul and uses[i] == 1:
            a, b = t.args[i]
            if t.kinds[a] == PARAM and plan.varying[b]:
                products.append((int(t.payload[a]), b))
            elif t.kinds[b] == PARAM and plan.varying[a]:
                products.append((int(t.payload[b]), a))
            else:
                return None
        else:
            return None
    return (products, biases) if products else None


def find_blocks(plan: Plan) -> tuple[list[Block], set[int]]:
    """The blocks of a trace, and the nodes absorbed into their layers' products."""
    t = plan.trace
    n = len(t.kinds)
    uses = [0] * n
    for i in range(n):
        if plan.live[i]:
            for j in t.args[i]:
                uses[j] += 1
    # A unit the root does not read (computed for its domain errors only) stays a column of its
    # own: in a block its zero gradient would meet the batch in dW = dZ.T @ A, and 0 * NaN
    # gives a NaN sample's NaN to weights eager mode never reaches.
    needed = [False] * n
    needed[t.root] = True
    for i in range(n - 1, -1, -1):
        if needed[i]:
            for j in t.args[i]:
                needed[j] = True
    inputs = Block(INPUT, [i for i in range(n) if t.kinds[i] == INPUT])
    blocks = [inputs] if inputs.members else []
    column: dict[int, tuple[Block, int]] = {m: (inputs, k) for k, m in enumerate(inputs.members)}
    layers: dict[tuple[int, ...], Block] = {}
    absorbed: set[int] = set()
    for z in range(n - 1, -1, -1):  # from the root down, so a chain is seen whole, from its last add
        if not (plan.live[z] and plan.varying[z] and t.kinds[z] == OP and needed[z]) or z in absorbed:
            continue
        if z in column:
            continue
        found = _dot(plan, z, uses)
        if found is not None and z != t.root:
            products, biases = found
            key = tuple(a for _, a in products)
            if len(set(key)) == len(key):
                layer = layers.get(key)
                if layer is None:
                    layer = layers[key] = Block("layer", [])
                    layer.key = key
                    blocks.append(layer)
                column[z] = (layer, len(layer.members))
                layer.members.append(z)
                layer.weights.append([w for w, _ in products])
                layer.biases.append(biases)
                absorbed.update(_interior(plan, z, uses))
    for layer in layers.values():  # columns in the order of the graph
        layer.members.reverse()
        layer.weights.reverse()
        layer.biases.reverse()
        for k, m in enumerate(layer.members):
            column[m] = (layer, k)
    for z in range(n):  # then the maps, over layers that are complete now
        op = t.ops[z]
        if (
            op is not None
            and op.arity == 1
            and needed[z]
            and z not in column
            and z not in absorbed
            and t.args[z][0] in column
            and z != t.root
        ):
            _map(blocks, column, t.args[z][0], z, op)
    for b in [b for b in blocks if b.kind == "map"]:  # only whole blocks are maps
        assert b.source is not None
        if len(b.members) != len(b.source.members) or any(m < 0 for m in b.members):
            blocks.remove(b)
            for m in b.members:
                if m >= 0:
                    column.pop(m, None)
    return blocks, absorbed


def _map(blocks: list[Block], column: dict[int, tuple[Block, int]], arg: int, z: int, op: object) -> None:
    source, k = column[arg]
    if source.kind == INPUT:
        return
    mapped = next(
        (b for b in blocks if b.kind == "map" and b.source is source and b.name == repr(id(op))), None
    )
    if mapped is None:
        mapped = Block("map", [-1] * len(source.members))
        mapped.source, mapped.name = source, repr(id(op))
        blocks.append(mapped)
    if mapped.members[k] != -1:
        return  # a second op of the same column: it stays a column of its own
    mapped.members[k] = z
    column[z] = (mapped, k)


def _interior(plan: Plan, z: int, uses: list[int]) -> list[int]:
    """The adds and products inside the dot ``z`` (not z itself, nor the products' operands):
    the nodes ``_dot`` walked through."""
    t = plan.trace
    add, mul = ops.PRIMITIVES["+"], ops.PRIMITIVES["*"]
    found: list[int] = []
    stack = [z]
    while stack:
        i = stack.pop()
        if t.kinds[i] != OP or (i != z and not (uses[i] == 1 and plan.varying[i])):
            continue
        if t.ops[i] is add:
            stack += t.args[i]
        elif t.ops[i] is not mul:
            continue
        if i != z:
            found.append(i)
    return found
