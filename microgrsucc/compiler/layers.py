"""Finding the matrix products in a traced graph, for the numpy backend.

A node ``b + w1*a1 + w2*a2 + ...`` (a chain of adds of parameter-times-node products, with
parameters or constants as the bias) is a *dot*. Dots over the same nodes ``a1, a2, ...``,
in the same order, are one layer: ``Z = A @ W.T + b`` for a whole batch in one call, with
``dW = dZ.T @ A`` and ``dA = dZ @ W`` on the way back. The same unary op applied to every
column of a block (``relu`` of each neuron) is one block too, so the next layer reads it
without stacking columns. Everything else stays one column per node.

A parameter-only sum of squares ``Σ c_k · p_k²`` (an L2 penalty: adds of ``p * p``,
``p ** 2`` or a constant times either, and constants) is a ``Squares``: one dot product over
an array of parameter positions, and one scattered add for its gradient ``2 c_k p_k``, however
many parameters it sums.
"""

from __future__ import annotations

from microgrsucc import ops
from microgrsucc.compiler.plan import Plan
from microgrsucc.compiler.trace import CONST, INPUT, OP, PARAM

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


def _square(plan: Plan, i: int, uses: list[int]) -> tuple[int, bool] | None:
    """``(position, powered)`` if node ``i`` is ``p * p`` or ``p ** 2`` of a parameter p."""
    t = plan.trace
    op = t.ops[i]
    if t.kinds[i] != OP or uses[i] != 1 or op is None:
        return None
    a = t.args[i][0]
    if t.kinds[a] != PARAM:
        return None
    if op is ops.PRIMITIVES["*"] and t.args[i][1] == a:
        return int(t.payload[a]), False
    if op.arity == 1 and getattr(op, "exponent", None) == 2.0:  # ops.pow_const(2.0)
        return int(t.payload[a]), True
    return None


def _term(plan: Plan, i: int, uses: list[int], found: Squares) -> bool:
    """Add node ``i`` to ``found`` if it is a square or a constant times one."""
    t = plan.trace
    square = _square(plan, i, uses)
    weight = 1.0
    if square is None and t.kinds[i] == OP and t.ops[i] is ops.PRIMITIVES["*"] and uses[i] == 1:
        a, b = t.args[i]
        c, s = (a, b) if t.kinds[a] == CONST else (b, a)
        if t.kinds[c] == CONST:
            square = _square(plan, s, uses)
            weight = float(t.payload[c])
            if square is not None:
                found.interior += [i, s]
    elif square is not None:
        found.interior.append(i)
    if square is None:
        return False
    found.params.append(square[0])
    found.powered.append(square[1])
    found.weights.append(weight)
    return True


def find_squares(plan: Plan) -> list[Squares]:
    """The parameter-only sums of squares of a trace (of two squares or more), largest first.

    Each is a chain of adds whose inner adds are used once; its terms are squares of
    parameters (``p * p``, ``p ** 2``), a constant times one, or constants.
    """
    t = plan.trace
    n = len(t.kinds)
    uses = plan.uses
    add = ops.PRIMITIVES["+"]
    taken: set[int] = set()
    found: list[Squares] = []
    for z in range(n - 1, -1, -1):  # from the last add of a chain, so it is seen whole
        if not plan.live[z] or plan.varying[z] or t.ops[z] is not add or z in taken:
            continue
        sq = Squares(z)
        stack = [z]
        ok = True
        while stack and ok:
            i = stack.pop()
            if t.ops[i] is add and (i == z or uses[i] == 1):
                sq.interior.append(i)
                a, b = t.args[i]
                stack += [b, a]
            elif t.kinds[i] == CONST:
                sq.constants.append(i)
            else:
                ok = _term(plan, i, uses, sq)
        if ok and len(sq.params) >= 2:
            found.append(sq)
            taken.update(sq.interior)
    return found
