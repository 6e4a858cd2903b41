"""The names of generated code's temporaries: ``TileRegisters`` makes a temporary a per-tile
array exactly when a later section reads it."""

from __future__ import annotations

from microgrsucc.compiler.registers import TileRegisters


def two_sections(names: TileRegisters) -> list[str]:
    """Three temporaries: two computed in the first section, the third in the second from both."""
    out: list[str] = []
    a = names.assign("_t1", "x * 2.0", names.of("x"), out)
    b = names.assign("_t2", f"{a} + 1.0", names.of(a), out)
    c = names.assign("_t3", f"{b} * 3.0", names.of(b), out)
    names.section += 1
    names.assign("_t4", f"{b} * {c}", names.of(b, c), out)
    return out


def test_a_temporary_read_in_a_later_section_is_a_per_tile_array() -> None:
    recorded = TileRegisters()
    scalars = two_sections(recorded)
    assert scalars == ["_t1 = x * 2.0", "_t2 = _t1 + 1.0", "_t3 = _t2 * 3.0", "_t4 = _t2 * _t3"]
    assert recorded.crossing == {"_t2", "_t3"}  # _t1 is read in its own section only
    assert two_sections(TileRegisters(recorded.crossing)) == [
        "_t1 = x * 2.0",
        "_t2[r] = _t1 + 1.0",
        "_t3[r] = _t2[r] * 3.0",
        "_t4 = _t2[r] * _t3[r]",
    ]
