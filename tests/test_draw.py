"""draw(), render() and the choice of layout program (system dot, graphviz-pure, or a clear error)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("graphviz")

import graphviz  # after the skip: the package is optional

from microgrsucc import Value, draw, drawing, render
from microgrsucc.cli.chapter import DEFAULTS, network
from microgrsucc.drawing import LayoutProgramError, find_layout_program

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SYSTEM_DOT = shutil.which("dot")
GRAPHVIZ_PURE = shutil.which("graphviz-pure") or drawing._installed_graphviz_pure()

PROGRAMS = [
    pytest.param(
        SYSTEM_DOT,
        id="system-dot",
        marks=[pytest.mark.dot, pytest.mark.skipif(SYSTEM_DOT is None, reason="no system dot")],
    ),
    pytest.param(
        GRAPHVIZ_PURE,
        id="graphviz-pure",
        marks=[pytest.mark.dot, pytest.mark.skipif(GRAPHVIZ_PURE is None, reason="no graphviz-pure")],
    ),
]


def chapter_cost() -> Value:
    net = network(**DEFAULTS)
    net.C.backward()
    return net.C


def value_nodes(source: str) -> list[str]:
    """The record labels of the Value boxes in DOT text (not the "…" of inputs left out)."""
    labels = re.findall(r'^\tv\d+ \[label="(.*?)"', source, flags=re.MULTILINE)
    return [label for label in labels if label != "…"]


def op_nodes(source: str) -> list[str]:
    return re.findall(r'^\tv\d+op \[label="?([^" ]*)"? ', source, flags=re.MULTILINE)


@pytest.fixture
def no_layout_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither dot nor graphviz-pure on PATH, and no graphviz-pure wheel."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(drawing, "_installed_graphviz_pure", lambda: None)


def fake_program(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


# --- draw ------------------------------------------------------------------------------------


def test_draw_shows_every_value_with_label_data_and_grad_and_every_op() -> None:
    source = draw(chapter_cost()).source
    labels = value_nodes(source)
    # a0 y w1 b1 w2 b2, z1 a1 z2 a2 C, the products w*a, y - a2, its square and the constant 0.5
    assert len(labels) == 16
    assert "{w1 | data 0.6000 | grad 0.0148}" in labels
    assert "{w2 | data -1.3000 | grad -0.0507}" in labels
    assert "{C | data 0.0715 | grad 1.0000}" in labels
    assert "{data 0.5000 | grad 0.1429}" in labels  # the unlabelled constant 1/2
    assert sorted(op_nodes(source)) == sorted(["*", "+", "sigmoid", "*", "+", "sigmoid", "-", "**2", "*"])
    # each op: one edge to its output and one from each input
    assert source.count("->") == 9 + 2 * 6 + 3  # six binary ops, three unary


def test_a_value_used_twice_is_drawn_once_with_two_edges() -> None:
    x = Value(3.0, label="x")
    source = draw(x * x).source
    assert sum("{x |" in label for label in value_nodes(source)) == 1
    x_id = re.search(r'^\t(v\d+) \[label="\{x ', source, flags=re.MULTILINE)
    assert x_id is not None
    assert source.count(f"\t{x_id.group(1)} -> v0op") == 2


def test_the_root_is_set_apart() -> None:
    source = draw(chapter_cost()).source
    root_line = next(line for line in source.splitlines() if line.startswith("\tv0 "))
    assert "{C |" in root_line and "filled" in root_line and "penwidth=2" in root_line
    other = next(line for line in source.splitlines() if "{w1 |" in line)
    assert "filled" not in other


def test_rankdir_and_record_orientation() -> None:
    lr = draw(chapter_cost()).source
    tb = draw(chapter_cost(), rankdir="TB").source
    assert "rankdir=LR" in lr and "rankdir=TB" in tb
    assert "{w1 | data 0.6000 | grad 0.0148}" in value_nodes(lr)
    assert "w1 | data 0.6000 | grad 0.0148" in value_nodes(tb)  # no braces: fields in a row


def test_labels_with_record_syntax_are_escaped() -> None:
    x = Value(1.0, label='a|b {c} <d> "e" \\')
    source = draw(x.exp()).source
    assert r"a\|b \{c\} \<d\> \"e\" \\" in source


def test_large_and_non_finite_numbers_stay_short() -> None:
    x = Value(1e300, label="x")
    y = x * 10.0
    labels = value_nodes(draw(y).source)
    assert "{x | data 1.0000e+300 | grad 0.0000}" in labels
    assert "{data 1.0000e+301 | grad 0.0000}" in labels


def test_gradients_that_are_values_are_drawn_by_their_data() -> None:
    x = Value(3.0, label="x")
    y = x * x
    y.backward(create_graph=True)
    assert "{x | data 3.0000 | grad 6.0000}" in value_nodes(draw(y).source)


def test_a_20000_node_graph_draws_quickly_without_recursion() -> None:
    y = Value(0.5, label="x")
    for _ in range(20_000):
        y = y.sin()
    start = time.perf_counter()
    source = draw(y, max_nodes=None).source
    assert time.perf_counter() - start < 5.0
    assert len(value_nodes(source)) == 20_001
    assert len(op_nodes(source)) == 20_000


def test_past_max_nodes_the_nearest_are_drawn_and_the_rest_elided() -> None:
    y = Value(0.5, label="x")
    for _ in range(1000):
        y = y.tanh()
    with pytest.warns(UserWarning, match=r"1001 nodes; showing the 10 nearest the root"):
        source = draw(y, max_nodes=10).source
    assert len(value_nodes(source)) == 10
    assert 'label="showing the 10 nodes nearest the root of 1001"' in source
    assert source.count('label="…"') == 1  # the one input left out, standing for all below it


def test_the_default_limit_keeps_small_graphs_whole() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(chapter_cost())
    assert drawing.MAX_NODES >= 100


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"rankdir": "XY"}, ValueError, "rankdir must be one of"),
        ({"max_nodes": 0}, ValueError, "max_nodes must be at least 1"),
    ],
)
def test_bad_draw_arguments(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        draw(Value(1.0), **kwargs)  # type: ignore[arg-type]


def test_draw_takes_only_a_value() -> None:
    with pytest.raises(TypeError, match="draw\\(\\) expects a Value, got float"):
        draw(1.0)  # type: ignore[arg-type]


def test_import_works_without_the_graphviz_package() -> None:
    code = (
        "import sys; sys.modules['graphviz'] = None\n"
        "import microgrsucc as mg\n"
        "x = mg.Value(2.0); (x * x).backward(); assert x.grad == 4.0\n"
        "try:\n"
        "    mg.draw(x)\n"
        "except ModuleNotFoundError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'microgrsucc[render]'" in done.stdout


# --- the layout program -------------------------------------------------------------------------


def test_system_dot_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    dot = fake_program(bin_dir, "dot", "exit 0")
    fake_program(bin_dir, "graphviz-pure", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert find_layout_program() == dot


def test_graphviz_pure_on_path_when_there_is_no_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pure = fake_program(tmp_path / "bin", "graphviz-pure", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_layout_program() == pure


@pytest.mark.skipif(drawing._installed_graphviz_pure() is None, reason="graphviz-pure is not installed")
def test_graphviz_pure_is_found_from_its_wheel_when_not_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    program = find_layout_program()
    assert program is not None and program.name.startswith("graphviz-pure")


def test_no_program_at_all(no_layout_program: None) -> None:
    assert find_layout_program() is None


def test_without_a_program_png_is_a_clear_error_and_dot_still_works(
    no_layout_program: None, tmp_path: Path
) -> None:
    with pytest.raises(LayoutProgramError) as caught:
        render(chapter_cost(), tmp_path / "c.png")
    message = str(caught.value)
    for hint in ("microgrsucc[render]", "graphviz-pure", "apt install graphviz", "brew", "conda", ".dot"):
        assert hint in message
    assert not (tmp_path / "c.png").exists()
    for name in ("c.dot", "c.gv"):
        path = render(chapter_cost(), tmp_path / name)
        text = path.read_text(encoding="utf-8")
        assert text.startswith("digraph {") and "sigmoid" in text and "data 0.6000" in text


def test_draw_points_the_graphviz_package_at_graphviz_pure_without_touching_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pure = fake_program(tmp_path / "bin", "graphviz-pure", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY", Path("dot"))
    draw(Value(1.0))
    assert pure == graphviz.backend.dot_command.DOT_BINARY
    assert os.environ["PATH"] == str(tmp_path / "bin")


def test_draw_leaves_a_dot_binary_the_user_chose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_program(tmp_path / "bin", "graphviz-pure", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY", Path("/opt/mine/dot"))
    draw(Value(1.0))
    assert Path("/opt/mine/dot") == graphviz.backend.dot_command.DOT_BINARY


def test_a_failing_program_is_reported_and_writes_nothing(tmp_path: Path) -> None:
    broken = fake_program(tmp_path / "bin", "dot", "echo 'Error: something broke' >&2; exit 3")
    with pytest.raises(
        LayoutProgramError, match=r"dot failed to write png \(exit status 3\): Error: something"
    ):
        render(chapter_cost(), tmp_path / "c.png", program=broken)
    assert not (tmp_path / "c.png").exists()


def test_a_program_that_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(LayoutProgramError, match="cannot run"):
        render(chapter_cost(), tmp_path / "c.png", program=tmp_path / "missing" / "dot")


# --- render -------------------------------------------------------------------------------------


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert width > 300 and height > 50
    assert len(data) > 5_000


@pytest.mark.parametrize("program", PROGRAMS)
def test_render_png_and_svg(program: str, tmp_path: Path) -> None:
    root = chapter_cost()
    png = render(root, tmp_path / "c.png", program=program)
    assert png == tmp_path / "c.png"
    check_png(png)
    svg = render(root, tmp_path / "c.svg", program=program).read_text(encoding="utf-8")
    assert re.search(r"<svg\b", svg) and svg.rstrip().endswith("</svg>")
    for text in ("w1", "data 0.6000", "grad 0.0148", "sigmoid", "**2"):
        assert text in svg


@pytest.mark.parametrize("program", PROGRAMS)
def test_render_a_digraph_and_an_upper_case_suffix(program: str, tmp_path: Path) -> None:
    path = render(draw(chapter_cost(), rankdir="TB"), tmp_path / "c.PNG", program=program)
    check_png(path)


@pytest.mark.dot
@pytest.mark.skipif(SYSTEM_DOT is None, reason="no system dot")
def test_system_dot_writes_pdf(tmp_path: Path) -> None:
    path = render(chapter_cost(), tmp_path / "c.pdf", program=SYSTEM_DOT)
    assert path.read_bytes().startswith(b"%PDF")


@pytest.mark.dot
@pytest.mark.skipif(GRAPHVIZ_PURE is None, reason="no graphviz-pure")
def test_graphviz_pure_says_it_cannot_write_pdf(tmp_path: Path) -> None:
    with pytest.raises(LayoutProgramError, match=r"graphviz-pure cannot write PDF.*apt install graphviz"):
        render(chapter_cost(), tmp_path / "c.pdf", program=GRAPHVIZ_PURE)


@pytest.mark.dot
def test_render_uses_the_program_found(tmp_path: Path) -> None:
    check_png(render(chapter_cost(), tmp_path / "c.png"))


@pytest.mark.dot
@pytest.mark.skipif(GRAPHVIZ_PURE is None, reason="no graphviz-pure")
def test_jupyter_display_works_with_only_graphviz_pure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no system dot
    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY", Path("dot"))
    monkeypatch.setattr(drawing, "_installed_graphviz_pure", lambda: GRAPHVIZ_PURE)
    bundle = draw(chapter_cost())._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"] and "sigmoid" in bundle["image/svg+xml"]


def test_render_rejects_unknown_suffixes_and_stray_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"end the name with one of \.png, \.svg, \.pdf, \.dot, \.gv"):
        render(Value(1.0), tmp_path / "c.jpg")
    with pytest.raises(ValueError, match="cannot tell the picture format"):
        render(Value(1.0), tmp_path / "picture")
    with pytest.raises(TypeError, match="expects a Value or a graphviz graph, got float"):
        render(1.0, tmp_path / "c.dot")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="draw options only with a Value"):
        render(draw(Value(1.0)), tmp_path / "c.dot", rankdir="TB")


def test_render_passes_draw_options(tmp_path: Path) -> None:
    text = render(chapter_cost(), tmp_path / "c.gv", rankdir="TB").read_text(encoding="utf-8")
    assert "rankdir=TB" in text


def test_an_unwritable_path_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        render(Value(1.0), tmp_path / "missing" / "c.dot")
