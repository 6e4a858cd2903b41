"""Names for the temporaries of generated code, given from their last reads (liveness)."""

from __future__ import annotations

__all__ = ["Registers", "TileRegisters"]


class Registers:
    """The names of temporaries: their own (``_t3`` node 3's value, ``_a3`` its gradient,
    ``_d3`` its derivative), or registers given from their last reads.

    A loop body is written twice for registers. The first time (``Registers(recording=True)``)
    every temporary has its own name and each statement notes the temporaries it reads; the
    second time (``Registers(last)``, ``last`` from the first) the same statements come in the
    same order, and a temporary takes a free register (``r0``, ``r1``...), free again after
    the statement that last reads it. The body then holds as many floats as are live at
    once, not one per node (fewer cache misses in a network's loop).
    """

    def __init__(self, last: dict[str, int] | None = None, *, recording: bool = False) -> None:
        self.recording = recording
        self.assigning = last is not None
        self.last: dict[str, int] = {} if last is None else last  # temporary -> statement
        # What each expression reads, by its text: while recording every temporary has its
        # own name, so equal texts read the same temporaries.
        self.reads: dict[str, frozenset[str]] = {}
        self.count = 0  # statements so far
        self.dying: dict[int, list[str]] = {}
        for temp, k in self.last.items():
            self.dying.setdefault(k, []).append(temp)
        self.register: dict[str, str] = {}
        self.free: list[str] = []
        self.made = 0

    def of(self, *texts: str) -> frozenset[str]:
        """The temporaries the expressions ``texts`` read (known while recording)."""
        return frozenset().union(*(self.reads.get(t, ()) for t in texts)) if self.recording else _NONE

    def note(self, text: str, reads: frozenset[str]) -> None:
        """The expression ``text`` reads ``reads``."""
        if reads:
            self.reads[text] = reads

    def statement(self, reads: frozenset[str], temp: str | None = None) -> str:
        """Counts a statement reading ``reads``; returns the name of its target, the new
        temporary ``temp`` (or "" for none)."""
        k, self.count = self.count, self.count + 1
        if self.recording:
            for r in reads:
                self.last[r] = k
            if temp is not None:
                self.reads[temp] = frozenset((temp,))
        if not self.assigning or temp is None:
            return temp or ""
        for r in self.dying.get(k, ()):
            self.free.append(self.register[r])  # read for the last time by this statement
        if self.free:
            name = self.free.pop()
        else:
            name, self.made = f"r{self.made}", self.made + 1
        self.register[temp] = name
        if temp not in self.last:  # never read (computed for its domain error)
            self.free.append(name)
        return name

    def assign(self, temp: str, text: str, reads: frozenset[str], out: list[str]) -> str:
        """Appends the statement ``temp = text`` and returns the temporary's name."""
        name = self.statement(reads, temp)
        out.append(f"{name} = {text}")
        return name


_NONE: frozenset[str] = frozenset()


class TileRegisters(Registers):
    """The names of the temporaries of a loop over a tile of samples split in *sections*
    (loops over the tile's samples, between statements on whole tiles): a temporary read only
    in the section that computes it is a float (``_t3``); one read in a later section holds
    the value of each sample of the tile, in an array (``_t3[r]``, ``r`` the sample).

    Written twice too: the first time (``TileRegisters()``) notes where each temporary is
    computed and read (``section``, the current section, is kept by the writer); the second
    time (``TileRegisters(first.crossing)``) names them.
    """

    def __init__(self, crossing: set[str] | None = None) -> None:
        super().__init__(recording=crossing is None)
        self.crossing: set[str] = set() if crossing is None else crossing  # read in a later section
        self.section = 0
        self.born: dict[str, int] = {}  # temporary -> the section that computes it

    def statement(self, reads: frozenset[str], temp: str | None = None) -> str:
        if self.recording:
            self.crossing.update(r for r in reads if self.born.get(r, self.section) != self.section)
            if temp is not None:
                self.born[temp] = self.section
            return super().statement(reads, temp)
        name = super().statement(reads, temp)
        return f"{name}[r]" if name in self.crossing else name
