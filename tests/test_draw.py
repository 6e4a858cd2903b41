# ruff: noqa: RUF001  -- the pictures print the signs U+00D7 and U+2212
"""draw(), render() and the choice of layout program (system dot, graphviz-pure, or a clear error)."""

from __future__ import annotations

import html
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from hypothesis import given, settings

pytest.importorskip("graphviz")

import graphviz  # after the skip: the package is optional

import microgrsucc as mg
from microgrsucc import Value, draw, drawing, layout, render
from microgrsucc.cli.chapter import DEFAULTS, network
from microgrsucc.drawing import LayoutProgramError, find_layout_program
from microgrsucc.explain import chain_rule, number, walk
from microgrsucc.testing.strategies import graphs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SYSTEM_DOT = shutil.which("dot")
GRAPHVIZ_PURE = shutil.which("graphviz-pure") or layout.installed_graphviz_pure()

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

HOSTILE = 'a"b\\ <c> & d\n"]; x [label="</script><script>alert(1)</script>\\'
"""A label with everything that must be escaped, ending in a backslash."""


def chapter() -> tuple[Value, object]:
    net = network(**DEFAULTS)
    net.C.backward()
    return net.C, net


def by_hand(
    x: float = 0.5, y: float = 0.8, w1: float = 0.6, b1: float = -0.1, w2: float = -1.3, b2: float = 0.4
) -> dict[str, float]:
    """The chapter network's values and gradients (DEFAULTS) from its formulas, in plain floats."""
    a1 = 1 / (1 + math.exp(-(w1 * x + b1)))
    a2 = 1 / (1 + math.exp(-(w2 * a1 + b2)))
    dz2 = (a2 - y) * a2 * (1 - a2)  # dC/dz2
    dz1 = dz2 * w2 * a1 * (1 - a1)  # dC/dz1
    return {
        "C": 0.5 * (y - a2) ** 2,
        "y - a2": y - a2,  # dC/d(y - a2) is y - a2 itself
        "(y - a2)**2": (y - a2) ** 2,  # dC/d(...) = 1/2
        "w1*a0": w1 * x,
        "dC/dw1*a0": dz1,
        "dC/dw1": dz1 * x,  # (B)
        "dC/dw2": dz2 * a1,  # (A)
    }


def chapter_cost() -> Value:
    return chapter()[0]


def text_of(label: str) -> str:
    """The words an HTML-like label shows: tags dropped, entities decoded, cells one space apart."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", label)).split())


def node_lines(source: str) -> dict[str, str]:
    """Each node's DOT line by its name (v3, v3op), from the graph's source."""
    return dict(re.findall(r"^\t(v\d+(?:op)?) \[(.*)\]$", source, flags=re.MULTILINE))


def labels(source: str) -> dict[str, str]:
    """Each node's label as the words it shows, by node name."""
    return {name: text_of(_label(line)) for name, line in node_lines(source).items()}


def _label(line: str) -> str:
    match = re.match(r"label=<(.*)> id=", line)
    assert match, line
    return match.group(1)


def value_boxes(source: str) -> list[str]:
    """The words of every Value node (not ops, not the "…" of inputs left out)."""
    return [text for name, text in labels(source).items() if not name.endswith("op") and text != "…"]


def op_symbols(source: str) -> list[str]:
    return [text for name, text in labels(source).items() if name.endswith("op")]


def edges(source: str) -> dict[str, str]:
    """Each edge's attributes by its id: e{consumer}_{operand} into an op, o{node} out of one."""
    found = re.findall(r'^\t(v\d+(?:op)?) -> (v\d+(?:op)?) \[id="(\w+)"(.*)\]$', source, flags=re.MULTILINE)
    return {edge_id: f"{tail}->{head}{rest}" for tail, head, edge_id, rest in found}


def edge_label(attrs: str) -> str:
    match = re.search(r"label=<(.*)>", attrs)
    return "" if match is None else text_of(match.group(1))


def caption(source: str) -> str:
    match = re.search(r"^\tlabel=<(.*)>$", source, flags=re.MULTILINE)
    return (
        ""
        if match is None
        else html.unescape(re.sub(r"<BR[^>]*>", "\n", match.group(1))).replace("\u00a0", " ")
    )


@pytest.fixture
def no_layout_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither dot nor graphviz-pure on PATH, and no graphviz-pure wheel."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(layout, "installed_graphviz_pure", lambda: None)


def fake_program(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


# --- draw: what a box, an op and an arrow say ----------------------------------------------------


def test_draw_shows_every_value_with_label_data_and_grad_and_every_op() -> None:
    source = draw(chapter_cost(), rankdir="TB").source
    boxes = value_boxes(source)
    # a0 y w1 b1 w2 b2, z1 a1 z2 a2 C, the products w*a, y - a2, its square, and the constant 1/2
    assert len(boxes) == 16
    h = by_hand()
    assert f"w1 data 0.6000 grad {h['dC/dw1']:.4f}" in boxes
    assert f"w2 data -1.3000 grad {h['dC/dw2']:.4f}" in boxes
    assert f"C data {h['C']:.4f} grad 1.0000" in boxes
    # unlabelled results of ops are named by the expression they compute: y - a2 is not a2 - y
    assert f"y - a2 data {h['y - a2']:.4f} grad {h['y - a2']:.4f}" in boxes
    assert f"w1*a0 data {h['w1*a0']:.4f} grad {h['dC/dw1*a0']:.4f}" in boxes
    assert f"(y - a2)**2 data {h['(y - a2)**2']:.4f} grad 0.5000" in boxes
    assert "0.5" in boxes  # the constant from the plain number 0.5: its value alone
    assert sorted(op_symbols(source)) == sorted(["×", "+", "sigmoid", "×", "+", "sigmoid", "−", "**2", "×"])
    # each op: one edge to its output and one from each input
    assert source.count("->") == 9 + 2 * 6 + 3  # six binary ops, three unary


def test_an_op_with_other_constants_than_the_defaults_shows_them_as_pytorch_spells_them() -> None:
    x = Value(0.5, label="x")
    y = x.leaky_relu(0.2) + x.leaky_relu() + x.gelu(approximate="tanh") + x.clamp(max=1) + x.softplus(beta=2)
    symbols = op_symbols(draw(y).source)
    assert {"leaky_relu(negative_slope=0.2)", "leaky_relu", "gelu(approximate='tanh')"} <= set(symbols)
    assert {"clamp(max=1.0)", "softplus(beta=2.0)"} <= set(symbols)
    boxes = value_boxes(draw(Value(-0.5, label="x").leaky_relu(0.2)).source)  # and the node's name
    assert any(box.startswith("leaky_relu(x, negative_slope=0.2) data -0.1000") for box in boxes), boxes


def test_leaves_the_user_made_look_different_from_constants() -> None:
    x = Value(3.0, label="x")
    source = draw(x * 2.0 + Value(1.0)).source
    lines = {labels(source)[name]: line for name, line in node_lines(source).items()}
    # No backward() yet: every grad is None, so each box shows its data alone.
    assert 'shape="plain"' in lines["x data 3.0000"] and "#fff1c9" in lines["x data 3.0000"]
    # A plain number the engine turned into a leaf is a constant: its value, no grad.
    assert 'style="rounded,dashed"' in lines["2"]
    # A Value the user made, even without a label, is an input or a parameter: data and grad.
    assert 'shape="plain"' in lines["data 1.0000"] and "#fff1c9" in lines["data 1.0000"]


def test_unlabelled_leaves_show_their_grads_as_micrograds_draw_dot_does() -> None:
    x, w, b = Value(0.5), Value(-1.5), Value(0.25)  # micrograd's README makes its leaves so
    y = (x * w + b).tanh()
    y.backward()
    texts = [text_of(label) for label in labels(draw(y).source).values()]
    for leaf in (x, w, b):
        assert f"data {number(leaf.data)} grad {number(leaf.grad)}" in texts


def test_a_grad_of_none_is_no_gradient_yet_and_the_box_shows_the_data_alone() -> None:
    x = Value(0.5, label="x")
    y = x * 3.0
    assert x.grad is None and y.grad is None  # a new Value's, as in PyTorch, before any backward()
    source = draw(y).source
    texts = set(map(text_of, labels(source).values()))
    assert "x data 0.5000" in texts and "data 1.5000" in " ".join(texts)
    assert "grad" not in " ".join(texts) and "∂" not in source  # no local derivatives without a backward


def test_a_value_used_twice_is_drawn_once_with_two_edges() -> None:
    x = Value(3.0, label="x")
    source = draw(x * x).source
    assert sum(box.startswith("x ") for box in value_boxes(source)) == 1
    x_name = next(name for name, text in labels(source).items() if text.startswith("x "))
    assert source.count(f"\t{x_name} -> v0op") == 2


def test_the_root_is_set_apart() -> None:
    lines = node_lines(draw(chapter_cost()).source)
    assert 'BORDER="2"' in lines["v0"] and "#d6e9f8" in lines["v0"]
    others = [line for name, line in lines.items() if name != "v0" and not name.endswith("op")]
    assert all('BORDER="2"' not in line and "#d6e9f8" not in line for line in others)


@pytest.mark.parametrize("rankdir", ["TB", "tb", "Bt"])
def test_top_to_bottom_in_any_case_puts_the_fields_in_a_row(rankdir: str) -> None:
    source = draw(chapter_cost(), rankdir=rankdir).source
    assert f"rankdir={rankdir.upper()}" in source
    assert "</TR><TR>" not in node_lines(source)["v0"]


@pytest.mark.parametrize("rankdir", ["LR", "rl"])
def test_left_to_right_stacks_the_fields(rankdir: str) -> None:
    source = draw(chapter_cost(), rankdir=rankdir).source
    assert f"rankdir={rankdir.upper()}" in source
    assert node_lines(source)["v0"].count("</TR><TR>") == 2


@pytest.mark.parametrize("x", [-0.0, 0.0, -1e-300])
def test_a_negative_zero_or_a_tiny_number_never_reads_minus_zero(x: float) -> None:
    v = Value(x, label="v")
    y = v * 1e-12
    y.backward()
    source = draw(y).source
    assert "-0.0000" not in source
    box = next(box for box in value_boxes(source) if box.startswith("v "))
    assert box == f"v data {number(x)} grad 1.000e-12"
    assert number(-0.0) == number(0.0) == "0"
    assert number(-1e-300) == "-1.000e-300"  # small, but not zero: it keeps its sign and size


def test_large_and_non_finite_numbers_stay_short() -> None:
    x = Value(1e300, label="x")
    y = x * 10.0
    boxes = value_boxes(draw(y).source)
    assert "x data 1.000e+300" in boxes  # no backward() yet: the data alone
    assert "x*10 data 1.000e+301" in boxes
    z = Value(math.inf, label="z") * 0.0
    assert "z*0 data nan" in value_boxes(draw(z).source)


def test_gradients_that_are_values_are_drawn_by_their_data() -> None:
    x = Value(3.0, label="x")
    y = x * x
    y.backward(create_graph=True)
    assert "x data 3.0000 grad 6.0000" in value_boxes(draw(y).source)


# --- local derivatives and operand order -----------------------------------------------------------


def test_each_arrow_into_an_op_carries_its_local_derivative_after_backward() -> None:
    w, x = Value(-1.5, label="w"), Value(2.5, label="x")
    y = (w * x).tanh()
    assert all(edge_label(a) == "" for a in edges(draw(y).source).values())  # no gradients yet
    y.backward()
    found = edges(draw(y).source)
    t = math.tanh(-3.75)
    assert edge_label(found["e1_0"]) == "∂/∂w = 2.5000"  # d(w*x)/dw = x
    assert edge_label(found["e1_1"]) == "∂/∂x = -1.5000"
    assert edge_label(found["e0_0"]) == f"∂/∂(w*x) = {number(1 - t * t)}"
    assert edge_label(found["o0"]) == ""  # the op's own output edge carries nothing
    assert "On each arrow: the local derivative" in caption(draw(y).source)
    assert all(edge_label(a) == "" for a in edges(draw(y, local_grads=False).source).values())
    assert edge_label(edges(draw(w * x, local_grads=True).source)["e0_0"]) == "∂/∂w = 2.5000"


def test_a_grad_is_the_sum_over_its_arrows_of_consumer_grad_times_the_arrow() -> None:
    """What the picture teaches, checked on the chapter's network from what draw() printed."""
    root, _ = chapter()
    source = draw(root).source
    grads = {
        name: float(re.search(r"grad (\S+)", text).group(1))  # type: ignore[union-attr]
        for name, text in labels(source).items()
        if "grad" in text
    }
    into: dict[str, list[tuple[str, float]]] = {}
    for edge_id, attrs in edges(source).items():
        if edge_id.startswith("e"):
            tail = attrs.split("->")[0]
            consumer = "v" + edge_id[1:].split("_")[0]
            into.setdefault(tail, []).append((consumer, float(edge_label(attrs).rsplit("= ", 1)[1])))
    checked = 0
    for name, arrows in into.items():
        if name in grads:
            expected = sum(grads[consumer] * d for consumer, d in arrows)
            assert grads[name] == pytest.approx(expected, abs=2e-4)
            checked += 1
    assert checked == 14  # every box but the root's (the constant shows no grad)


def test_local_derivatives_of_a_custom_op_come_from_its_table_entry() -> None:
    scale = mg.custom_op("scale3", lambda a, b, c: a * b + c, lambda F, a, b, c, out: (b, a, 1.0))
    a, b, c = Value(2.0, label="a"), Value(5.0, label="b"), Value(1.0, label="c")
    y = scale(a, b, c)
    y.backward()
    found = edges(draw(y).source)
    assert [edge_label(found[f"e0_{k}"]) for k in range(3)] == [
        "arg 1 ∂/∂a = 5",
        "arg 2 ∂/∂b = 2",
        "arg 3 ∂/∂c = 1",
    ]


@pytest.mark.parametrize(
    ("make", "names"),
    [
        (lambda a, b: a - b, ("a", "b")),
        (lambda a, b: a / b, ("a", "b")),
        (lambda a, b: a**b, ("base", "exponent")),
    ],
)
def test_the_arrows_of_an_op_whose_operand_order_matters_say_which_is_which(make, names) -> None:  # type: ignore[no-untyped-def]
    p, q = Value(3.0, label="p"), Value(2.0, label="q")
    found = edges(draw(make(q, p), local_grads=False).source)
    assert (edge_label(found["e0_0"]), edge_label(found["e0_1"])) == names
    # the first operand's arrow starts at q's box, the second at p's
    boxes = labels(draw(make(q, p)).source)
    assert boxes[found["e0_0"].split("->")[0]].startswith("q ")
    assert boxes[found["e0_1"].split("->")[0]].startswith("p ")


def test_commutative_ops_name_no_operands() -> None:
    p, q = Value(3.0, label="p"), Value(2.0, label="q")
    for y in (p + q, p * q):
        assert all(edge_label(a) == "" for a in edges(draw(y, local_grads=False).source).values())


# --- highlight: the chain rule for one Value -------------------------------------------------------


def test_highlight_draws_the_path_apart_and_captions_the_chain_rule() -> None:
    root, net = chapter()
    w1 = net.w1  # type: ignore[attr-defined]
    source = draw(root, highlight=w1, rankdir="TB").source
    found = edges(source)
    on = {edge_id for edge_id, attrs in found.items() if 'color="#d9480f"' in attrs}
    off = {edge_id for edge_id, attrs in found.items() if 'color="#b4b4b4"' in attrs}
    assert on | off == set(found) and not on & off
    # one path w1 -> * -> + -> sigmoid -> * -> + -> sigmoid -> - -> **2 -> * -> C: 9 arrows in, 9 out
    assert len(on) == 18
    text = caption(source)
    assert "The chain rule for w1" in text and "(1 path)" in text
    assert "∂C/∂w1 = ∂C/∂((y - a2)**2) · ∂((y - a2)**2)/∂(y - a2) · ∂(y - a2)/∂a2 · ∂a2/∂z2" in text
    assert f"= {number(w1.grad)}" in text
    lines = node_lines(source)
    w1_name = next(name for name, t in labels(source).items() if t.startswith("w1 "))
    assert "#ffd8a8" in lines[w1_name]  # the Value asked about is filled


def test_the_chain_rule_sums_over_every_path() -> None:
    x = Value(3.0, label="x")
    y = x * x + x.sin() * x
    y.label = "y"
    y.backward()
    rule = chain_rule(y, x)
    assert rule.count == 4  # x*x twice, sin(x)*x through sin and directly
    assert rule.value == pytest.approx(x.grad, rel=1e-15)
    text = caption(draw(y, highlight=x).source)
    # d(x*x)/dx along each of its two edges, then sin(x)*x through sin (x cos x) and directly (sin x)
    paths = f"[1 × 3] + [1 × 3] + [1 × 3 × ({math.cos(3.0):.4f})] + [1 × {math.sin(3.0):.4f}]"
    assert "(4 paths)" in text and paths in text
    assert f"= {number(x.grad)}" in text


def test_past_a_few_paths_the_chain_rule_gives_their_number_and_sum() -> None:
    x = Value(1.1, label="x")
    y = x
    for _ in range(4):
        y = y * y  # 2**4 = 16 paths
    y.label = "y"
    y.backward()
    text = caption(draw(y, highlight=x).source)
    assert "the sum over 16 paths" in text and number(x.grad) in text


@settings(max_examples=60)
@given(graphs())
def test_the_chain_rule_equals_backward_on_random_graphs(f) -> None:  # type: ignore[no-untyped-def]
    xs = [Value(v, label=f"x{i}") for i, v in enumerate(f.inputs)]
    root = f(*xs)
    if root.is_leaf:
        return
    root.backward()
    below = walk(root)
    for x in xs:
        if x not in below:
            continue
        rule = chain_rule(root, x)
        assert rule.value == pytest.approx(float(x.grad), rel=1e-9, abs=1e-12)


def test_highlight_of_a_value_outside_the_graph_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="the Value 'stranger' is not in the graph below the root"):
        draw(chapter_cost(), highlight=Value(1.0, label="stranger"))
    with pytest.raises(TypeError, match=r"highlight=\.\.\.\) expects a Value of the graph, got float"):
        draw(chapter_cost(), highlight=1.0)  # type: ignore[arg-type]


def test_a_value_the_root_does_not_depend_on_has_no_path() -> None:
    x = Value(2.0, label="x")
    y = x * 0.0 + 1.0
    y.backward()
    assert chain_rule(y, x).value == 0.0 == x.grad  # the path exists: its product is 0
    z = Value(1.0, label="z")
    assert chain_rule(z, z).lines() == ["∂z/∂z = 1"]


# --- escaping: nothing in a label is read as DOT or markup ------------------------------------------


def test_hostile_labels_and_op_names_are_escaped_in_the_dot_text() -> None:
    bad_op = mg.custom_op('op"\\<b>&\n\\', lambda x: 2 * x, lambda F, x, out: 2.0)
    x = Value(1.0, label=HOSTILE)
    y = bad_op(x)
    y.label = HOSTILE
    y.backward()
    source = draw(y, highlight=x).source
    # Every label is an HTML-like string, whose text cannot close it or start markup.
    for name, line in node_lines(source).items():
        label = _label(line)
        assert "<script" not in label and "\n" not in label and "&quot;" not in text_of(label), name
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in source
    assert "<script>" not in source and "\n]" not in source
    assert labels(source)["v0op"] == 'op"\\<b>& \\'  # the newline became a space


@pytest.mark.parametrize("program", PROGRAMS)
def test_hostile_labels_lay_out_and_come_back_escaped_in_svg(program: str, tmp_path: Path) -> None:
    bad_op = mg.custom_op("twice\\", lambda x: 2 * x, lambda F, x, out: 2.0)
    x = Value(1.0, label=HOSTILE)
    y = bad_op(x) - x
    y.label = "ends in a backslash \\"
    y.backward()
    svg = render(y, tmp_path / "h.svg", program=program, highlight=x).read_text(encoding="utf-8")
    tree = ElementTree.fromstring(svg)  # well-formed XML
    texts = ["".join(t.itertext()) for t in tree.iter("{http://www.w3.org/2000/svg}text")]
    assert any("</script><script>alert(1)</script>" in t for t in texts)  # shown, as text
    assert any(t == "twice\\" for t in texts) and any("ends in a backslash \\" in t for t in texts)
    assert not list(tree.iter("{http://www.w3.org/2000/svg}script"))


# --- size ----------------------------------------------------------------------------------------


# Five times the recursion limit in the quick run; README's 20,000 under -m slow.
@pytest.mark.parametrize("depth", [5_000, pytest.param(20_000, marks=pytest.mark.slow)])
def test_a_graph_far_deeper_than_the_recursion_limit_draws(depth: int) -> None:
    assert sys.getrecursionlimit() * 5 <= depth
    y = Value(0.5, label="x")
    for _ in range(depth):
        y = y.sin()
    y.backward()
    source = draw(y, max_nodes=None).source
    assert len(value_boxes(source)) == depth + 1
    assert len(op_symbols(source)) == depth


def test_past_max_nodes_the_nearest_are_drawn_and_the_rest_elided() -> None:
    y = Value(0.5, label="x")
    for _ in range(1000):
        y = y.tanh()
    with pytest.warns(UserWarning, match=r"1001 nodes; showing the 10 nearest the root"):
        source = draw(y, max_nodes=10).source
    assert len(value_boxes(source)) == 10
    assert "showing the 10 nodes nearest the root of 1001" in caption(source)
    assert list(labels(source).values()).count("…") == 1  # the one input left out, standing for all below


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
        ({"max_nodes": 1.5}, TypeError, "max_nodes must be an int"),  # drew "the 1.5 nearest"
        ({"max_nodes": True}, TypeError, "max_nodes must be an int"),
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


@pytest.mark.skipif(layout.installed_graphviz_pure() is None, reason="graphviz-pure is not installed")
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
        LayoutProgramError, match=r"dot failed to write .*c\.png \(exit status 3\): Error: something"
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
    for text in ("w1", "data 0.6000", f"grad {by_hand()['dC/dw1']:.4f}", "sigmoid", "**2"):
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
    monkeypatch.setattr(layout, "installed_graphviz_pure", lambda: GRAPHVIZ_PURE)
    bundle = draw(chapter_cost())._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"] and "sigmoid" in bundle["image/svg+xml"]


def test_render_rejects_unknown_suffixes_and_stray_options(tmp_path: Path) -> None:
    suffixes = r"end the name with one of \.png, \.svg, \.pdf, \.html, \.dot, \.gv"
    with pytest.raises(ValueError, match=suffixes):
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


# --- writing: whole or not at all --------------------------------------------------------------

SMALL_FILES = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # a file past 4 KiB fails with EFBIG
from microgrsucc import Value, render
y = Value(0.5, label="x")
for _ in range(60):
    y = y.tanh()
y.backward()
try:
    render(y, sys.argv[1])
except OSError as err:
    print(type(err).__name__, err.filename, "|", err)
"""


def leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


@pytest.mark.parametrize(
    "suffix",
    [".dot", pytest.param(".svg", marks=pytest.mark.dot), pytest.param(".html", marks=pytest.mark.dot)],
)
def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"graph{suffix}"
    target.write_text("the picture from yesterday")
    done = subprocess.run(
        [sys.executable, "-c", SMALL_FILES, str(target)], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith(f"OSError {target} |"), done.stdout + done.stderr
    assert "File too large" in done.stdout and str(target) in done.stdout.split("|")[1]
    assert target.read_text() == "the picture from yesterday"
    assert leftovers(tmp_path, target.name) == []  # the temporary file is gone


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "c.gv"
    target.write_text("old")

    def refuse(source: object, destination: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError) as caught:
        render(chapter_cost(), target)
    assert caught.value.filename == str(target) and str(target) in str(caught.value)
    assert target.read_text() == "old"
    assert leftovers(tmp_path, target.name) == []


def test_a_written_file_replaces_the_old_one_with_the_usual_permissions(tmp_path: Path) -> None:
    new = render(chapter_cost(), tmp_path / "new.dot")
    umask = os.umask(0o022)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    old = tmp_path / "old.dot"
    old.write_text("old")
    old.chmod(0o600)
    render(chapter_cost(), old)
    assert old.read_text(encoding="utf-8").startswith("digraph {") and old.stat().st_mode & 0o777 == 0o600
    assert leftovers(tmp_path, "") == ["new.dot", "old.dot"]


def test_labelled_parameters_of_an_mlp_are_boxes_and_its_inputs_constants() -> None:
    from microgrsucc.nn import MLP

    model = MLP(2, [2, 1], seed=0)
    for i, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            for k, w in enumerate(neuron.w):
                w.label = f"L{i}.N{j}.w{k}"
            neuron.b.label = f"L{i}.N{j}.b"
    score = model([0.5, -1.0])
    score.backward()  # type: ignore[union-attr]
    source = draw(score).source  # type: ignore[arg-type]
    boxes = value_boxes(source)
    for p in model.parameters():
        assert f"{p.label} data {number(p.data)} grad {number(p.grad)}" in boxes
    assert "0.5" in boxes and "-1" in boxes  # the inputs, plain numbers: constants


def test_a_file_keeps_its_permissions_even_the_ones_a_new_file_would_not_get(tmp_path: Path) -> None:
    shared = tmp_path / "shared.dot"
    shared.write_text("old")
    shared.chmod(0o666)  # wider than the umask gives a new file
    render(chapter_cost(), shared)
    assert shared.stat().st_mode & 0o777 == 0o666 and shared.read_text().startswith("digraph {")


def test_a_symbolic_link_at_the_path_stays_a_link_and_its_file_is_written(tmp_path: Path) -> None:
    (tmp_path / "pictures").mkdir()
    real = tmp_path / "pictures" / "graph.dot"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "graph.dot"
    link.symlink_to(real)
    assert render(chapter_cost(), link) == link
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.read_text().startswith("digraph {") and real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == ["graph.dot"]
    dangling = tmp_path / "later.dot"
    dangling.symlink_to(tmp_path / "pictures" / "later.dot")  # a link to a file not written yet
    render(chapter_cost(), dangling)
    assert dangling.is_symlink() and (tmp_path / "pictures" / "later.dot").read_text().startswith("digraph {")


# --- labels ---------------------------------------------------------------------------------


def test_a_label_that_is_not_a_str_is_refused_where_it_is_given() -> None:
    with pytest.raises(TypeError, match=r"Value\(label=...\) takes a str or None, got int: 1"):
        Value(1.0, label=1)  # type: ignore[arg-type]
    x = Value(1.0)
    x.label = 1  # type: ignore[assignment]  # an attribute set later is caught where it is drawn
    with pytest.raises(TypeError, match=r"label of Value\(data=1.0\) must be a str or None, got int 1"):
        draw(x * 2.0)


@pytest.mark.parametrize("blank", ["", " ", "\t\n  "])
@pytest.mark.parametrize("program", PROGRAMS)
def test_a_blank_label_names_nothing_and_renders(blank: str, program: str, tmp_path: Path) -> None:
    x = Value(2.0, label=blank)
    y = x * 3.0
    y.label = blank
    y.backward()
    svg = render(y, tmp_path / "blank.svg", program=program).read_text(encoding="utf-8")
    assert "data 6.0000" in svg and "data 2.0000" in svg
    texts = set(map(text_of, labels(draw(y).source).values()))
    assert "data 2.0000 grad 3.0000" in texts  # x: a leaf the user made, unnamed


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_label_too_long_for_graphviz_is_cut_with_an_ellipsis(program: str, tmp_path: Path) -> None:
    x = Value(2.0, label="w" * 20_000)
    y = x.exp()
    y.backward()
    source = draw(y).source
    assert "w" * 20_000 not in source and "w" * 199 + "…" in source
    svg = render(y, tmp_path / "long.svg", program=program).read_text(encoding="utf-8")
    assert "w" * 199 + "…" in svg
