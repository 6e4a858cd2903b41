"""Finding the matrix products in a traced graph, for the numpy backend.

A node ``b + w1*a1 + w2*a2 + ...`` (a chain of adds of parameter-times-node products, with
parameters or constants as the bias) is a *dot*. Dots over the same nodes ``a1, a2, ...``,
in the same order, are one layer: ``Z = A @ W.T + b`` for a whole batch in one call, with
``dW = dZ.T @ A`` and ``dA = dZ @ W`` on the way back. The same unary op applied to every
column of a block (``relu`` of each neuron) is one block too, so the next layer reads it
without stacking columns; a layer whose units it follows but for some (a skip ``w * x`` over
the same inputs joins the layer) is split in two first. Everything else stays one column
per node.

A parameter-only sum of squares ``Σ c_k · p_k²`` (an L2 penalty: adds of ``p * p``,
``p ** 2`` or a constant times either, and constants) is a ``Squares``: one dot product over
an array of parameter positions, and one scattered add for its gradient ``2 c_k p_k``, however
many parameters it sums.
"""

from __future__ import annotations

from itertools import compress, count

from microgrsucc import ops
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.trace import CONST, INPUT, OP, PARAM, Trace

__all__ = ["Block", "Squares", "columns", "find_blocks", "find_squares", "name_blocks"]


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


def name_blocks(blocks: list[Block]) -> dict[int, tuple[Block, int]]:
    """Name each block (``X`` the samples, ``B<k>`` the others) and map each member node to its
    block and column."""
    block_of: dict[int, tuple[Block, int]] = {}
    for k, b in enumerate(blocks):
        b.name = "X" if b.kind == INPUT else f"B{k}"
        for col, m in enumerate(b.members):
            block_of[m] = (b, col)
    return block_of


def relu_alone(plan: Plan, blocks: list[Block], b: Block) -> bool:
    """Whether the units of the layer ``b`` are read by its relu alone (one map over them).

    A layer's matrix product (BLAS, XLA) may sign a zero sum otherwise than eager mode's
    sum: it starts at +0.0, and a fused multiply-add keeps the sign of a product that
    underflows. relu gives +0.0 and the slope 0 for both zeros, so there the sign changes
    nothing; elsewhere (atan2, 1 / x) the printers sign the zeros as eager mode does.
    """
    relu = ops.PRIMITIVES.get("relu")
    uses = plan.uses
    return any(
        m.kind == "map" and m.source is b and plan.trace.ops[m.members[0]] is relu for m in blocks
    ) and all(uses[x] == 1 for x in b.members)


def input_columns(trace: Trace, block_of: dict[int, tuple[Block, int]], key: tuple[int, ...]) -> int | None:
    """The first of the samples' arguments that the nodes ``key`` are, in order (a layer of
    ``model(x)``), or None."""
    where = block_of.get(key[0])
    if where is None or where[0].kind != INPUT or columns(block_of, key) is None:
        return None
    return int(trace.payload[key[0]])


def columns(block_of: dict[int, tuple[Block, int]], key: tuple[int, ...]) -> str | None:
    """The nodes ``key`` as consecutive columns of one block, a (batch, len(key)) array: the
    block's name or a slice of it (``B1[:, 2:5]``); None if no block holds them so."""
    first = block_of.get(key[0])
    if first is None:
        return None
    b, s = first
    if any(block_of.get(m) != (b, s + i) for i, m in enumerate(key)):
        return None
    return b.name if s == 0 and len(key) == len(b.members) else f"{b.name}[:, {s}:{s + len(key)}]"


class _Dot:
    """A dot found by ``_dot``: its products (weight position, node), its bias nodes, and the
    adds and products inside it (not ``z`` itself, nor the products' operands)."""

    def __init__(self) -> None:
        self.products: list[tuple[int, int]] = []
        self.biases: list[int] = []
        self.interior: list[int] = []


def _dot(plan: Plan, z: int) -> _Dot | None:
    """The dot that node ``z`` computes, or None."""
    t = plan.trace
    kinds, ops_of, args, payload = t.kinds, t.ops, t.args, t.payload
    uses, varying = plan.uses, plan.varying
    add, mul = ops.PRIMITIVES["+"], ops.PRIMITIVES["*"]
    found = _Dot()
    products, biases, interior = found.products, found.biases, found.interior
    stack = [z]
    while stack:  # once per node of a layer's dots: the checks in the order they are met
        i = stack.pop()
        op = ops_of[i]  # None for a leaf
        if op is add and (i == z or (uses[i] == 1 and varying[i])):
            a, b = args[i]
            stack.append(b)
            stack.append(a)
        elif op is mul and uses[i] == 1:
            a, b = args[i]
            if kinds[a] == PARAM and varying[b]:
                products.append((int(payload[a]), b))
            elif kinds[b] == PARAM and varying[a]:
                products.append((int(payload[b]), a))
            else:
                return None
        elif kinds[i] in (PARAM, CONST):
            biases.append(i)
            continue
        else:
            return None
        if i != z:
            interior.append(i)
    return found if found.products else None


def find_blocks(plan: Plan) -> tuple[list[Block], set[int]]:
    """The blocks of a trace, and the nodes absorbed into their layers' products."""
    t = plan.trace
    kinds, ops_of, args, root = t.kinds, t.ops, t.args, t.root
    live, varying = plan.live, plan.varying
    # A unit the root does not read (computed for its domain errors only) stays a column of its
    # own: in a block its zero gradient would meet the batch in dW = dZ.T @ A, and 0 * NaN
    # gives a NaN sample's NaN to weights eager mode never reaches.
    needed = t.reaching()
    inputs = Block(INPUT, [i for i, kind in enumerate(kinds) if kind == INPUT])
    blocks = [inputs] if inputs.members else []
    column: dict[int, tuple[Block, int]] = {m: (inputs, k) for k, m in enumerate(inputs.members)}
    layers: dict[tuple[int, ...], Block] = {}
    absorbed: set[int] = set()
    # The live op nodes the root reads that vary per sample, from the root down, so a chain is
    # seen whole, from its last add; those that vary and that the root reads picked first, in
    # one comprehension (a trace has a node per scalar op, and a penalty's half do not vary).
    for z in reversed([z for z in range(len(kinds)) if needed[z] and varying[z]]):
        if kinds[z] != OP or not live[z] or z in absorbed or z in column:
            continue
        found = _dot(plan, z)
        if found is not None and z != root:
            key = tuple(a for _, a in found.products)
            if len(set(key)) == len(key):
                layer = layers.get(key)
                if layer is None:
                    layer = layers[key] = Block("layer", [])
                    layer.key = key
                    blocks.append(layer)
                column[z] = (layer, len(layer.members))
                layer.members.append(z)
                layer.weights.append([w for w, _ in found.products])
                layer.biases.append(found.biases)
                absorbed.update(found.interior)
    for layer in layers.values():  # columns in the order of the graph
        layer.members.reverse()
        layer.weights.reverse()
        layer.biases.reverse()
        for k, m in enumerate(layer.members):
            column[m] = (layer, k)
    unary = {op for op in ops_of if op is not None and op.arity == 1}
    for z in compress(count(), map(unary.__contains__, ops_of)):  # then the maps, over complete layers
        op = ops_of[z]
        if needed[z] and args[z][0] in column and z not in column and z not in absorbed and z != root:
            _map(blocks, column, args[z][0], z, op)
    maps = [b for b in blocks if b.kind == "map"]
    for b in maps:  # only whole blocks are maps
        assert b.source is not None
        if any(m < 0 for m in b.members) and not _split(blocks, column, b, maps):
            blocks.remove(b)
            for m in b.members:
                if m >= 0:
                    column.pop(m, None)
    return blocks, absorbed


def _split(
    blocks: list[Block], column: dict[int, tuple[Block, int]], mapped: Block, maps: list[Block]
) -> bool:
    """Split the layer under ``mapped``, a map of some of its units only, into the units it
    maps and the others (a second layer over the same inputs, next to it), so the map is
    whole: a model's hidden layer beside a linear skip ``w * x`` over the same input joins
    one layer, and relu of its hidden units alone would otherwise stay one column per
    unit. Not done (False) when another map reads the layer too, or for the samples."""
    source = mapped.source
    assert source is not None
    if source.kind != "layer" or any(m is not mapped and m.source is source for m in maps):
        return False
    keep = [k for k, z in enumerate(mapped.members) if z >= 0]
    rest = [k for k, z in enumerate(mapped.members) if z < 0]
    other = Block("layer", [source.members[k] for k in rest])
    other.key = source.key
    other.weights = [source.weights[k] for k in rest]
    other.biases = [source.biases[k] for k in rest]
    source.members = [source.members[k] for k in keep]
    source.weights = [source.weights[k] for k in keep]
    source.biases = [source.biases[k] for k in keep]
    mapped.members = [mapped.members[k] for k in keep]
    blocks.insert(blocks.index(source) + 1, other)
    for b in (source, other, mapped):
        for k, z in enumerate(b.members):
            column[z] = (b, k)
    return True


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


class Squares:
    """A parameter-only sum ``Σ c_k · p_k²`` plus constants, computed by the node ``node``.

    ``params[k]`` is the position of p_k, ``weights[k]`` its constant c_k (1.0 when there is
    none) and ``powered[k]`` whether the square is ``p ** 2`` (Python's ``**`` raises on
    overflow, ``*`` gives inf); ``constants`` are the constant nodes added in and
    ``interior`` the adds and products the sum absorbs (``node`` included).
    """

    def __init__(self, node: int) -> None:
        self.node = node
        self.params: list[int] = []
        self.weights: list[float] = []
        self.powered: list[bool] = []
        self.constants: list[int] = []
        self.interior: list[int] = []


def _square(plan: Plan, i: int) -> tuple[int, bool] | None:
    """``(position, powered)`` if node ``i`` is ``p * p`` or ``p ** 2`` of a parameter p."""
    t = plan.trace
    op = t.ops[i]
    if t.kinds[i] != OP or plan.uses[i] != 1 or op is None:
        return None
    a = t.args[i][0]
    if t.kinds[a] != PARAM:
        return None
    if op is ops.PRIMITIVES["*"] and t.args[i][1] == a:
        return int(t.payload[a]), False
    if op.arity == 1 and getattr(op, "exponent", None) == 2.0:  # ops.pow_const(2.0)
        return int(t.payload[a]), True
    return None


# A term of a sum of squares: the parameter's position, whether it is squared by ``**``, its
# constant factor, and the nodes it absorbs.
_Term = tuple[int, bool, float, list[int]]


def _term(plan: Plan, i: int) -> _Term | None:
    """Node ``i`` as a term of a sum of squares, if it is a square or a constant times one."""
    t = plan.trace
    square = _square(plan, i)
    if square is not None:
        return square[0], square[1], 1.0, [i]
    if t.kinds[i] == OP and t.ops[i] is ops.PRIMITIVES["*"] and plan.uses[i] == 1:
        a, b = t.args[i]
        c, s = (a, b) if t.kinds[a] == CONST else (b, a)
        if t.kinds[c] == CONST:
            square = _square(plan, s)
            if square is not None:
                return square[0], square[1], float(t.payload[c]), [i, s]
    return None


def find_squares(plan: Plan) -> list[Squares]:
    """The parameter-only sums of squares of a trace (of two squares or more), largest first.

    Each is a chain of adds whose inner adds are used once; its terms are squares of
    parameters (``p * p``, ``p ** 2``), a constant times one, or constants.
    """
    t = plan.trace
    kinds, ops_of, args = t.kinds, t.ops, t.args
    uses, varying, live = plan.uses, plan.varying, plan.live
    add = ops.PRIMITIVES["+"]
    # Per parameter-only add, how many squares its chain sums, or -1 where it is not a sum of
    # squares: from its operands', in one pass, inputs first. Walking from each add instead
    # would walk a long chain that is not one (an L1 penalty) once per add in it.
    counts: dict[int, int] = {}
    terms: dict[int, _Term | None] = {}
    for i, op in enumerate(ops_of):
        if op is not add or varying[i] or not live[i]:
            continue
        total = 0
        for j in args[i]:
            if ops_of[j] is add and uses[j] == 1:  # an inner add of the chain
                c = counts.get(j, -1)
            elif kinds[j] == CONST:
                c = 0
            else:
                term = terms[j] = _term(plan, j)
                c = -1 if term is None else 1
            if c < 0:
                total = -1
                break
            total += c
        counts[i] = total
    taken: set[int] = set()
    found: list[Squares] = []
    for z in reversed(list(counts)):  # from the last add of a chain, so it is seen whole
        if counts[z] < 2 or z in taken:
            continue
        sq = Squares(z)
        inside = sq.interior
        stack = [z]
        while stack:  # once per node of the sum
            i = stack.pop()
            if ops_of[i] is add and (i == z or uses[i] == 1):
                inside.append(i)
                a, b = args[i]
                stack.append(b)
                stack.append(a)
            elif kinds[i] == CONST:
                sq.constants.append(i)
            else:
                term = terms[i]
                assert term is not None  # counts[z] says every term is one
                position, powered, weight, interior = term
                sq.params.append(position)
                sq.powered.append(powered)
                sq.weights.append(weight)
                inside += interior
        found.append(sq)
        taken.update(sq.interior)
    return found
