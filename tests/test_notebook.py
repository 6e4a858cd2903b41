"""examples/chapter5.ipynb runs top to bottom in a fresh kernel, and the outputs kept in it are current."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "chapter5.ipynb"

pytestmark = [pytest.mark.notebook, pytest.mark.dot]


def chapter_w1_grad(
    x: float = 0.5, y: float = 0.8, w1: float = 0.6, b1: float = -0.1, w2: float = -1.3, b2: float = 0.4
) -> float:
    """dC/dw1 by the chapter's formula (B), in plain floats, at the notebook's numbers."""
    a1 = 1 / (1 + math.exp(-(w1 * x + b1)))
    a2 = 1 / (1 + math.exp(-(w2 * a1 + b2)))
    return x * a1 * (1 - a1) * (a2 - y) * a2 * (1 - a2) * w2


def streams(cell: Any) -> list[str]:
    return [out["text"] for out in cell.get("outputs", []) if out["output_type"] == "stream"]


def pictures(cell: Any) -> list[str]:
    return [
        out["data"]["image/svg+xml"]
        for out in cell.get("outputs", [])
        if "image/svg+xml" in out.get("data", {})
    ]


def test_the_chapter_notebook_runs_in_a_fresh_kernel_and_its_outputs_are_kept(tmp_path: Path) -> None:
    # The notebook marker made sure nbclient, nbformat and a kernel are here (conftest.py's NEEDS).
    import nbformat
    from nbclient import NotebookClient

    kept = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(kept)
    fresh = copy.deepcopy(kept)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(
        fresh, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    code = [(k, f) for k, f in zip(kept.cells, fresh.cells, strict=True) if k.cell_type == "code"]
    assert len(code) >= 6
    for old, new in code:
        assert not [out for out in new.outputs if out["output_type"] == "error"], new.source
        assert old.outputs, f"no output kept for: {old.source[:60]}"  # the file reads well unrun
        assert streams(old) == streams(new), old.source[:60]  # printed numbers are deterministic
        assert len(pictures(old)) == len(pictures(new))
    text = "".join("".join(streams(new)) for _, new in code)
    assert "w1 (B)" in text and "w2 (A)" in text
    (printed,) = re.findall(r"^w1\.grad = (\S+)", text, flags=re.MULTILINE)
    assert math.isclose(float(printed), chapter_w1_grad(), rel_tol=1e-12)
    svgs = [svg for _, new in code for svg in pictures(new)]
    assert len(svgs) == 3 and all("<svg" in svg for svg in svgs)
    assert "The chain rule for w1" in svgs[1] and "The chain rule for w2" in svgs[2]
    assert list(tmp_path.iterdir()) == []  # it writes no files
