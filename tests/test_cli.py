"""The ``microgrsucc`` command line: demo, graph, and one clear line for every user error."""

from __future__ import annotations

import math
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from microgrsucc import __version__, layout
from microgrsucc.cli import main
from microgrsucc.cli.chapter import DEFAULTS, formulas

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def no_layout_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(layout, "installed_graphviz_pure", lambda: None)


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"microgrsucc {__version__}\n", "")
    status, out, _ = run(capsys)
    assert status == 0 and "demo" in out and "graph" in out


# --- demo ----------------------------------------------------------------------------------


def demo_rows(out: str) -> dict[str, tuple[float, float, float]]:
    rows = re.findall(r"^  dC/d(\w+) (?:\(.\))?\s+(\S+)\s+(\S+)\s+(\S+)$", out, flags=re.MULTILINE)
    return {name: (float(a), float(b), float(c)) for name, a, b, c in rows}


@pytest.mark.dot
def test_demo_prints_the_gradients_beside_the_formulas_and_writes_pictures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("graphviz")
    status, out, err = run(capsys, "demo", "--out", str(tmp_path / "pictures"))
    assert (status, err) == (0, "")
    rows = demo_rows(out)
    expected = formulas(**DEFAULTS)
    assert sorted(rows) == ["b1", "b2", "w1", "w2"]
    for name, (engine, book, difference) in rows.items():
        assert engine == pytest.approx(expected[name], abs=1e-12)
        assert book == pytest.approx(expected[name], abs=1e-12)
        assert abs(difference) < 1e-12
    assert "dC/dw1 (B)" in out and "dC/dw2 (A)" in out
    png = tmp_path / "pictures" / "chapter-network.png"
    svg = tmp_path / "pictures" / "chapter-network.svg"
    assert f"wrote {png}" in out and f"wrote {svg}" in out
    assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 5_000
    assert "<svg" in svg.read_text(encoding="utf-8")


def test_demo_without_a_layout_program_writes_dot_and_says_how_to_get_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_layout_program: None
) -> None:
    pytest.importorskip("graphviz")
    status, out, err = run(capsys, "demo", "--out", str(tmp_path))
    assert status == 2
    assert len(demo_rows(out)) == 4  # the numbers come first, whatever happens to the picture
    assert err.count("\n") == 1 and err.startswith("microgrsucc demo: error: no Graphviz layout program")
    assert "microgrsucc[render]" in err and "wrote" in err
    assert "digraph" in (tmp_path / "chapter-network.dot").read_text(encoding="utf-8")


# --- graph ---------------------------------------------------------------------------------


def test_graph_prints_the_value_and_each_derivative(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "graph", "tanh(x*y) + 1", "--set", "x=0.5", "--set", "y=2")
    assert (status, err) == (0, "")
    t = 0.7615941559557649  # tanh(1)
    lines = out.splitlines()
    assert lines[0] == f"tanh(x*y) + 1 = {t + 1!r}"
    assert float(lines[1].removeprefix("d/dx = ")) == pytest.approx(2 * (1 - t * t), rel=1e-15)
    assert float(lines[2].removeprefix("d/dy = ")) == pytest.approx(0.5 * (1 - t * t), rel=1e-15)


def test_graph_with_a_leading_minus(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "graph", "--set", "x=3", "--", "-x*2")[1] == "-x*2 = -6.0\nd/dx = -2.0\n"
    assert run(capsys, "graph", "-x * 2", "--set", "x=3")[0] == 0  # argparse takes "-x * 2" as EXPR


@pytest.mark.parametrize(
    ("argv", "fixed"),
    [
        (["graph", "-x*2", "--set", "x=3"], "microgrsucc graph --set x=3 -- '-x*2'"),
        (["graph", "--set", "x=3", "-(x+1)"], "microgrsucc graph --set x=3 -- '-(x+1)'"),
        (["graph", "-x", "--set", "x=1"], "microgrsucc graph --set x=1 -- -x"),
    ],
)
def test_a_leading_minus_without_dashes_gets_a_hint(
    capsys: pytest.CaptureFixture[str], argv: list[str], fixed: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("microgrsucc graph: error: the following arguments are required: EXPR; ")
    expr = next(a for a in argv[1:] if a.startswith("-") and a != "--set")
    assert (
        f"; {expr} is taken for an option: an EXPR starting with a minus goes after --: {fixed} (see" in err
    )
    status, out, _ = run(capsys, *shlex.split(fixed)[1:])  # the command it suggests works
    assert (status, out.split(" = ")[0]) == (0, expr)


def test_the_hint_is_only_for_a_missing_expr(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "graph", "x", "--set", "x=1", "-y")
    assert "unrecognized arguments: -y" in err and "goes after --" not in err


def test_pi_and_e_are_constants(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "graph", "sin(pi * x) + e", "--set", "x=0.5")
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == f"sin(pi * x) + e = {1.0 + math.e!r}"
    assert float(out.splitlines()[1].removeprefix("d/dx = ")) == pytest.approx(0.0, abs=1e-15)
    assert run(capsys, "graph", "pi")[1] == f"pi = {math.pi!r}\n"


@pytest.mark.parametrize(
    ("argv", "printed", "warning"),
    [
        (["sqrt(x)", "--set", "x=0"], "d/dx = inf", "d/dx is infinite at x=0.0"),
        (["x**0.5 + y", "--set", "x=0", "--set", "y=2"], "d/dx = inf", "d/dx is infinite at x=0.0, y=2.0"),
        (
            ["sqrt(x) * 0 + y", "--set", "x=0", "--set", "y=1"],
            "d/dx = nan",
            "d/dx is undefined (NaN) at x=0.0",
        ),
    ],
)
def test_an_infinite_or_nan_derivative_is_printed_with_a_warning(
    capsys: pytest.CaptureFixture[str], argv: list[str], printed: str, warning: str
) -> None:
    status, out, err = run(capsys, "graph", *argv)
    assert status == 0  # the derivative is what the calculus gives there, as torch computes it
    assert printed in out.splitlines()
    assert err.count("\n") == 1
    assert err.startswith(f"microgrsucc graph: warning: {warning}")
    assert "d/dy" not in err  # only the non-finite one


@pytest.mark.parametrize("suffix", [".dot", ".gv"])
def test_graph_writes_dot_without_a_layout_program(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_layout_program: None, suffix: str
) -> None:
    pytest.importorskip("graphviz")
    path = tmp_path / f"g{suffix}"
    status, out, _ = run(capsys, "graph", "x * x + 1", "--set", "x=3", "-o", str(path), "--rankdir", "TB")
    assert status == 0 and out.endswith(f"wrote {path}\n")
    text = path.read_text(encoding="utf-8")
    assert "rankdir=TB" in text and ">x</FONT>" in text and "data 3.0000" in text and "grad 6.0000" in text
    assert "\u00d7</FONT>" in text and "+</FONT>" in text  # the ops * and +


@pytest.mark.dot
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_graph_writes_pictures(capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str) -> None:
    pytest.importorskip("graphviz")
    path = tmp_path / f"g{suffix}"
    assert (
        run(
            capsys,
            "graph",
            "sigmoid(w*x + b)",
            "--set",
            "w=2",
            "--set",
            "x=1",
            "--set",
            "b=-1",
            "-o",
            str(path),
        )[0]
        == 0
    )
    data = path.read_bytes()
    if suffix == ".png":
        assert data[:8] == PNG_SIGNATURE and len(data) > 2_000
    else:
        assert b"<svg" in data and b"sigmoid" in data


USER_ERRORS = [
    (["graph", "(x"], "syntax error at column 1: '(' was never closed"),
    (["graph", "x +"], "syntax erro"),
    (["graph", "foo(x)", "--set", "x=1"], "unknown function foo"),
    (["graph", "x.real", "--set", "x=1"], "attribute access is not allowed"),
    (["graph", "__import__('os').system('true')"], "only calls of abs, acos, acosh"),
    (["graph", "_x"], "names starting with an underscore are not allowed"),
    (["graph", "[x for x in y]"], "a comprehension is not allowed"),
    (["graph", "x * y", "--set", "x=1"], "y has no value: add --set y=VALUE"),
    (["graph", "x * y"], "x, y have no value: add --set x=VALUE --set y=VALUE"),
    (["graph", "x", "--set", "x=abc"], "--set x=abc: abc is not a numbe"),
    (["graph", "x", "--set", "x="], "--set x=: (nothing) is not a numbe"),
    (["graph", "x", "--set", "x=nan"], "--set x=nan: the value must be a finite numbe"),
    (["graph", "x", "--set", "x"], "--set x: write NAME=VALUE"),
    (["graph", "x", "--set", "1x=2"], "1x is not a variable name"),
    (["graph", "x", "--set", "x=1", "--set", "x=2"], "x is set twice"),
    (["graph", "x", "--set", "x=1", "--set", "z=2"], "--set z: the expression has no variable z"),
    (["graph", "log(x)", "--set", "x=-1"], "log(-1.0): the operand must be > 0"),
    (["graph", "1 / x", "--set", "x=0"], "1.0 / 0.0: division by zero"),
    (["graph", "10**10**10"], "10.0 ** 10000000000.0: the result is too large for a float"),
    (["graph", "exp(x)", "--set", "x=1000"], "exp(1000.0): the result is too large"),
    (["graph", "1e999"], "the number 1e999 is too large for a float"),
    (["graph", "9" * 400], "is too large for a float"),
    (["graph", "x", "--set", "x=1", "-o", "g.jpg"], "-o g.jpg: end the file name with one of"),
    (["graph", "x", "--rankdi", "XY"], "invalid choice: 'XY'"),
    (["graph"], "the following arguments are required: EXPR"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["graph", "x", "--set", "x=1", "--set", "pi=3"], "--set pi: pi is a constant in expressions"),
    (["graph", "x", "--set", "x=1", "extra"], "microgrsucc graph: error: unrecognized arguments: extra"),
    (["graph", "x", "--set", "x=1", "--bogus"], "microgrsucc graph: error: unrecognized arguments: --bogus"),
    (
        ["demo", "extra"],
        "microgrsucc demo: error: unrecognized arguments: extra (see microgrsucc demo --help)",
    ),
    (["demo", "--bogus"], "microgrsucc demo: error: unrecognized arguments: --bogus"),
    (["demo", "--rankdir", "XY"], "microgrsucc demo: error: argument --rankdir: invalid choice: 'XY'"),
    (["demo", "--out"], "microgrsucc demo: error: argument --out: expected one argument"),
    # The forms a user tries first for the variables, and a product written as in algebra.
    (
        ["graph", "x*y", "-x", "1", "-y", "2"],
        "-x 1 -y 2; give each variable its own --set: --set x=1 --set y=2",
    ),
    (["graph", "x*y", "--set", "x=1", "y=2"], "arguments: y=2; give each variable its own --set: --set y=2"),
    (["graph", "2x", "--set", "x=1"], "invalid decimal literal; write 2*x for 2 times x"),
    (["graph", "x + 0.5pi", "--set", "x=1"], "; write 0.5*pi for 0.5 times pi"),
]


@pytest.mark.parametrize(("argv", "message"), USER_ERRORS, ids=[" ".join(a)[:30] for a, _ in USER_ERRORS])
def test_user_errors_print_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("microgrsucc")
    assert message in err
    assert "Traceback" not in err


def test_graph_makes_the_folder_of_its_output_as_demo_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("graphviz")
    target = tmp_path / "missing" / "deeper" / "g.dot"
    status, out, err = run(capsys, "graph", "x", "--set", "x=1", "-o", str(target))
    assert (status, err) == (0, "")
    assert out.endswith(f"wrote {target}\n")
    assert "digraph" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("command", ["graph", "demo"])
def test_a_folder_that_cannot_be_made_is_refused_before_anything_is_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    (tmp_path / "file").write_text("")
    folder = tmp_path / "file" / "sub"
    argv = ["graph", "x", "--set", "x=1", "-o", str(folder / "g.dot")] if command == "graph" else []
    if command == "demo":
        argv = ["demo", "--out", str(folder)]
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert err == f"microgrsucc {command}: error: cannot create the folder {folder}: Not a directory\n"
    if command == "graph":
        assert out == ""  # demo prints its table first: its picture is a by-product


def test_no_layout_program_for_a_png(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_layout_program: None
) -> None:
    pytest.importorskip("graphviz")
    status, out, err = run(capsys, "graph", "x", "--set", "x=1", "-o", str(tmp_path / "g.png"))
    assert status == 2 and err.count("\n") == 1 and out == ""  # refused before anything is printed
    assert "no Graphviz layout program" in err and ".dot and .gv files need neither" in err


def test_a_pdf_the_layout_program_cannot_write_is_refused_before_anything_is_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pure = tmp_path / "bin" / "graphviz-pure"  # never run: refused by its name alone
    monkeypatch.setattr(layout, "find_layout_program", lambda: pure)
    status, out, err = run(capsys, "graph", "x*x", "--set", "x=1", "-o", str(tmp_path / "g.pdf"))
    assert (status, out) == (2, "")
    assert (
        err.startswith("microgrsucc graph: error: graphviz-pure cannot write PDF yet")
        and err.count("\n") == 1
    )
    assert not (tmp_path / "g.pdf").exists()


def test_a_huge_graph_is_drawn_with_a_note(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    expr = " + ".join(["x"] * 600)  # x and 599 sums: past draw()'s default limit
    status, _, err = run(capsys, "graph", expr, "--set", "x=1", "-o", str(tmp_path / "g.dot"))
    assert status == 0
    assert err.startswith("microgrsucc graph: note: draw(): the graph has 600 nodes")


# --- the installed console script ------------------------------------------------------------


def console_script() -> list[str]:
    """The script pip installed beside this Python (its folder need not be on PATH)."""
    beside = Path(sys.executable).parent / "microgrsucc"
    return [str(beside) if beside.exists() else shutil.which("microgrsucc") or "microgrsucc"]


def test_the_console_script_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [*console_script(), "graph", "x * x", "--set", "x=3", "-o", str(tmp_path / "g.gv")],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[:2] == ["x * x = 9.0", "d/dx = 6.0"]
    assert (tmp_path / "g.gv").exists()

    done = subprocess.run([*console_script(), "graph", "10**10**10"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "microgrsucc graph: error: 10.0 ** 10000000000.0: the result is too large for a float\n"
    )
