"""The body of a numba kernel's loop over a tile of samples, as it is written: *sections*
(loops over the tile's samples running one sample's statements) between statements on the
whole tile (a layer, a map)."""

from __future__ import annotations

from microgrsucc.compiler.registers import TileRegisters

__all__ = ["Tile", "check"]


# The end of a loop over samples (``s`` the sample): a flag set by one of its functions marks
# the sample for the eager engine.
def check(s: str) -> list[str]:
    return ["if F[0] != 0.0:", f"    bad[{s}] = True", "    flagged += 1", "    F[0] = 0.0"]


class Tile:
    """The body of the loop over a tile: *sections*, loops over the tile's samples (``r`` in
    the tile, ``s`` in the batch) running one sample's statements, between statements on
    the whole tile (a layer, a map). A section with ops' code checks the flag F after each
    sample, if some op's code can set it (``flagging``)."""

    def __init__(self, names: TileRegisters, flagging: bool) -> None:
        self.names = names
        self.flagging = flagging
        self.lines: list[str] = []
        self.section: list[str] = []  # the statements of the current section
        self.checked = False  # whether the current section checks the flag

    def ops(self) -> list[str]:
        """The current section, for statements of ops' code."""
        self.checked = self.flagging
        return self.section

    def sample(self, statement: str, *reads: str) -> None:
        """A statement of the current section, which reads the expressions ``reads``."""
        self.names.statement(self.names.of(*reads))
        self.section.append(statement)

    def fill(self, array: str, exprs: list[str | None], first: int | None) -> None:
        """``array[c, r] = exprs[c]`` for the tile's samples; where the expressions are the
        samples' columns ``first``, ``first + 1``... (``first`` not None), one loop copies
        them: a statement each made numba take 90 s over the 784 inputs of an MLP of MNIST."""
        if first is None:
            for c, e in enumerate(exprs):
                self.sample(f"{array}[{c}, r] = {e}", e or "")
        else:
            column = f"{first} + c" if first else "c"
            self.whole(f"for c in range({len(exprs)}):", "    for r in range(n):")
            self.lines.append(f"        {array}[c, r] = X[s0 + r, {column}]")

    def whole(self, *lines: str) -> None:
        """Statements on the whole tile: the end of a section."""
        self.close()
        self.lines += lines

    def close(self) -> None:
        if self.section:
            self.lines += ["for r in range(n):", "    s = s0 + r", *(f"    {x}" for x in self.section)]
            self.lines += [f"    {c}" for c in check("s")] if self.checked else []
            self.section = []
            self.checked = False
        self.names.section += 1
