"""Each example, run as a user runs it: a subprocess in a fresh folder.

The moons runs train for seconds and plot with matplotlib: they are marked ``training`` (left
out of a plain pytest; ``pytest -m training`` runs them, as .ci/run does) and ``plots``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_example(name: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_answers_help_and_does_nothing_else(name: str, tmp_path: Path) -> None:
    out = run_example(name, "--help", cwd=tmp_path)
    assert out.startswith(f"usage: {name} [-h]")
    assert list(tmp_path.iterdir()) == []  # it trained and wrote nothing


def test_moons_without_matplotlib_names_the_extra_before_training(tmp_path: Path) -> None:
    hide = "import sys, runpy; sys.modules['matplotlib'] = None; sys.argv[0] = sys.argv[1]; del sys.argv[1]"
    run = f"{hide}; runpy.run_path(sys.argv[0], run_name='__main__')"
    done = subprocess.run(
        [sys.executable, "-c", run, str(EXAMPLES / "moons.py")], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stdout == ""  # refused before the first step
    assert (
        done.stderr == "moons.py plots with matplotlib, which is not installed: pip install '.[examples]'\n"
    )


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 5_000


def book_reference() -> tuple[list[float], list[float]]:
    """The book's numpy matrix code in float64, independent of microgrsucc: outputs before and after."""
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
    y = np.array([[0, 1, 1, 0]], dtype=np.float64).T
    rng = np.random.RandomState(1)  # the legacy generator behind np.random.seed(1)
    w1, w2 = rng.random_sample((3, 4)), rng.random_sample((4, 1))

    def sigmoid(z: Any) -> Any:
        return 1.0 / (1.0 + np.exp(-z))

    before = sigmoid(sigmoid(X @ w1) @ w2).ravel().tolist()
    for _ in range(1000):
        a1 = sigmoid(X @ w1)
        a2 = sigmoid(a1 @ w2)
        d2 = (a2 - y) * a2 * (1 - a2)  # dC/dz2 for C = sum 1/2 (y - a2)^2
        d1 = (d2 @ w2.T) * a1 * (1 - a1)
        w2 -= a1.T @ d2
        w1 -= X.T @ d1
    after = sigmoid(sigmoid(X @ w1) @ w2).ravel().tolist()
    return before, after


def test_book_xor_prints_the_reference_outputs(tmp_path: Path) -> None:
    out = run_example("book_xor.py", cwd=tmp_path)
    before_text, after_text = out.split("Output after training:")
    printed_before = re.findall(r"-> (\d\.\d{3})", before_text)
    printed_after = re.findall(r"-> (\d\.\d{3})", after_text)
    before, after = book_reference()
    assert printed_before == [f"{v:.3f}" for v in before]
    assert printed_after == [f"{v:.3f}" for v in after]
    # It learned XOR: the two 1-targets high, the two 0-targets low.
    assert [round(float(v)) for v in printed_after] == [0, 1, 1, 0]


@pytest.mark.dot
def test_two_layer_network_matches_the_formulas_and_draws_the_graph(tmp_path: Path) -> None:
    out = run_example("two_layer_network.py", "--out", str(tmp_path / "pictures"), cwd=tmp_path)
    rows = re.findall(r"^(w1|w2|b1|b2)\s+(-?\d\.\d+)\s+(-?\d\.\d+)\s+(\S+)", out, flags=re.MULTILINE)
    assert sorted(name for name, *_ in rows) == ["b1", "b2", "w1", "w2"]
    for _, engine, formula, difference in rows:
        assert engine == formula
        assert float(difference) < 1e-12
    assert "(A)" in out and "(B)" in out
    assert_png(tmp_path / "pictures" / "two_layer_network.png")


@pytest.mark.training
@pytest.mark.plots
def test_moons_trains_to_full_accuracy_and_saves_both_plots(tmp_path: Path) -> None:
    out = run_example("moons.py", "--out", str(tmp_path), cwd=tmp_path)
    progress = re.findall(r"^step\s+(\d+)\s+loss (\d+\.\d+)\s+accuracy (\d+)%", out, flags=re.MULTILINE)
    assert len(progress) >= 5
    assert float(progress[-1][1]) < float(progress[0][1]) / 10
    assert "training accuracy after 60 steps: 100%" in out
    assert_png(tmp_path / "moons_decision_boundary.png")
    assert_png(tmp_path / "moons_loss.png")


@pytest.mark.training
@pytest.mark.plots
def test_moons_compile_trains_as_eager_does_and_prints_both_step_times(tmp_path: Path) -> None:
    compiled = run_example("moons.py", "--compile", "--steps", "10", "--out", str(tmp_path), cwd=tmp_path)
    eager = run_example("moons.py", "--steps", "10", "--out", str(tmp_path), cwd=tmp_path)
    progress = r"^step\s+(?:5|10)\s+loss \d+\.\d+\s+accuracy \d+%"
    assert re.findall(progress, compiled, flags=re.MULTILINE) == re.findall(
        progress, eager, flags=re.MULTILINE
    )
    assert len(re.findall(progress, eager, flags=re.MULTILINE)) == 2
    assert re.search(r"^eager training: \d+\.\d ms per step$", compiled, flags=re.MULTILINE)
    assert re.search(r"^compiled training: \d+\.\d ms per step$", compiled, flags=re.MULTILINE)


@pytest.mark.training
@pytest.mark.plots
def test_moons_writes_into_the_current_folder_by_default(tmp_path: Path) -> None:
    run_example("moons.py", "--steps", "2", cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moons_decision_boundary.png", "moons_loss.png"]
