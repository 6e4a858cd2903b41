"""The command line's pictures: what ``demo`` writes, ``--rankdir``, ``graph -o x.html``, atomic writes."""

from __future__ import annotations

import fnmatch
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from microgrsucc.cli import main

pytest.importorskip("graphviz")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

WITH_SMALL_FILES = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # writing past 4 KiB fails with EFBIG
from microgrsucc.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def ignored_in_a_checkout(name: str) -> bool:
    """Whether the checkout's .gitignore ignores a file of this name at its top (where a user runs demo)."""
    gitignore = Path(__file__).resolve().parent.parent / ".gitignore"
    if not gitignore.exists():
        pytest.skip("no .gitignore: not a checkout")
    patterns = [line.strip() for line in gitignore.read_text().splitlines() if not line.startswith("#")]
    return any(p and not p.startswith("!") and fnmatch.fnmatch(name, p.lstrip("/")) for p in patterns)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.dot
def test_demo_writes_the_network_the_page_and_the_chain_rule_for_w1_and_w2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run(capsys, "demo", "--out", str(tmp_path))
    assert (status, err) == (0, "")
    names = ["chapter-network.png", "chapter-network.svg", "chapter-network.html"]
    names += ["chapter-network-w1.png", "chapter-network-w2.png"]
    for name in names:
        assert f"wrote {tmp_path / name}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert [name for name in names if not ignored_in_a_checkout(name)] == []  # run in a checkout: no noise
    width, height = png_size(tmp_path / "chapter-network.png")
    assert height > width  # top to bottom by default, not a 4442 x 205 strip
    assert "formula (B)" in out and "formula (A)" in out
    page = (tmp_path / "chapter-network.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    svg = (tmp_path / "chapter-network.svg").read_text(encoding="utf-8")
    assert "∂/∂w1 = 0.5000" in svg  # the local derivative d(w1*a0)/dw1 = a0


@pytest.mark.dot
def test_rankdir_takes_the_four_directions_in_any_case(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    heights = {}
    for given in ("lr", "Rl", "tb", "BT"):
        path = tmp_path / f"{given}.png"
        status, _, err = run(capsys, "graph", "exp(sin(tanh(cos(x*y))))", "--set", "x=1", "--set", "y=2",
                             "-o", str(path), "--rankdir", given)  # fmt: skip
        assert (status, err) == (0, "")
        heights[given] = png_size(path)[1]
    assert max(heights["lr"], heights["Rl"]) < min(heights["tb"], heights["BT"]) / 2


def test_a_rankdir_that_is_not_one_of_the_four_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "graph", "x", "--set", "x=1", "--rankdir", "up")
    assert status == 2 and "--rankdir" in err and err.count("\n") == 1


@pytest.mark.dot
def test_graph_writes_the_interactive_page(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "g.html"
    status, out, err = run(capsys, "graph", "tanh(x*w + b)", "--set", "x=0.5", "--set", "w=-1.5",
                           "--set", "b=0.2", "-o", str(path))  # fmt: skip
    assert (status, err) == (0, "") and out.endswith(f"wrote {path}\n")
    page = path.read_text(encoding="utf-8")
    assert "<svg" in page and '"rootName":"tanh(x*w + b)"' in page


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["graph", "x" + " + x" * 40, "--set", "x=1", "-o", "{folder}/graph.gv"], id="graph"),
        pytest.param(["demo", "--out", "{folder}"], id="demo", marks=pytest.mark.dot),
    ],
)
def test_a_write_that_fails_names_the_file_and_leaves_the_old_one(tmp_path: Path, argv: list[str]) -> None:
    target = tmp_path / ("graph.gv" if argv[0] == "graph" else "chapter-network.png")
    target.write_text("yesterday's picture")
    args = [a.replace("{folder}", str(tmp_path)) for a in argv]
    done = subprocess.run([sys.executable, "-c", WITH_SMALL_FILES, *args], capture_output=True, text=True)
    assert done.returncode == 2
    errors = done.stderr.splitlines()
    assert errors == [f"microgrsucc {argv[0]}: error: cannot write {target}: File too large"]
    assert target.read_text() == "yesterday's picture"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind
