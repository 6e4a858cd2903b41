# ruff: noqa: RUF001  -- the page prints the sign U+00D7
"""The interactive page: one self-contained file; in a real browser it replays backward() exactly.

The browser tests (marker ``browser``: ``pytest -m browser``, as .ci/run does) drive the system
Chromium through playwright (never a browser playwright downloads). Without Chromium or
playwright they are skipped on a developer's machine and fail in CI (CI set), which installs both.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

pytest.importorskip("graphviz")

from microgrsucc import Value, draw, layout, render
from microgrsucc.cli import main
from microgrsucc.cli.chapter import DEFAULTS, Network, network
from microgrsucc.engine import backward_order
from microgrsucc.explain import Graph, number, walk, wrap
from microgrsucc.layout import find_layout_program
from microgrsucc.testing.strategies import Graph as RandomGraph
from microgrsucc.testing.strategies import graphs

pytestmark = pytest.mark.dot  # the page holds the SVG the layout program wrote

HOSTILE = '"><img src=x onerror=alert(1)></text><script>alert(2)</script> \\'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chapter() -> Network:
    net = network(**DEFAULTS)
    net.C.backward()
    return net


def page_for(root: Value, path: Path, **options: Any) -> str:
    return render(root, path, **options).read_text(encoding="utf-8")


# --- the file ------------------------------------------------------------------------------------


def test_the_page_is_one_small_file_that_needs_no_network(tmp_path: Path) -> None:
    text = page_for(chapter().C, tmp_path / "c.html")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert len(text.encode()) < 150_000  # a 16-node graph, its script and style included
    assert text.count("<script") == 1 and "<script src" not in text
    assert "<link" not in text and "@import" not in text and "url(" not in text
    # The only addresses are the SVG namespaces, which are names, never fetched.
    assert {re.sub(r"[\"'].*", "", a) for a in re.findall(r"https?://\S+", text)} <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }


def test_labels_cannot_add_markup_to_the_page(tmp_path: Path) -> None:
    x = Value(1.0, label=HOSTILE)
    y = (x * 2.0).exp()
    y.label = "</script><script>alert(3)</script>"
    y.backward()
    text = page_for(y, tmp_path / "h.html", highlight=x)
    assert text.count("<script") == 1 and text.count("</script>") == 1
    assert "<img" not in text and "alert(2)</script>" not in text
    assert "\\u003c/script\\u003e" in text  # in the page's data, as JSON escapes


def test_a_label_that_names_a_placeholder_of_the_page_is_only_text(tmp_path: Path) -> None:
    x = Value(1.0, label="__DATA__ __SVG__ __TITLE__")
    text = page_for(x.exp(), tmp_path / "p.html")
    assert text.count("const DATA = {") == 1 and text.count("<svg") == 1
    assert text.count('"rootName"') == 1  # the data is in the script only, not pasted into the label
    assert "__DATA__ __SVG__ __TITLE__" in text  # shown in the picture and in the data, as it is


def test_a_graph_past_max_nodes_says_what_was_left_out(tmp_path: Path) -> None:
    y = Value(0.5, label="x")
    for _ in range(1000):
        y = y.tanh()
    y.backward()
    with pytest.warns(UserWarning):
        text = page_for(y, tmp_path / "big.html", max_nodes=10)
    assert "showing the 10 nodes nearest the root of 1001" in text
    assert '"shown":10,"total":1001' in text
    assert len(text.encode()) < 200_000


def test_the_page_needs_the_value_not_a_drawn_graph(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="needs the Value"):
        render(draw(Value(1.0)), tmp_path / "x.html")


# --- in a browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # The browser marker made sure Chromium and playwright are here (conftest.py's NEEDS).
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


class Page:
    """A page opened in the browser, with what it complained about."""

    def __init__(self, browser: Any, path: Path, viewport: dict[str, int] | None = None) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport=viewport or {"width": 1300, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())

    def grads(self) -> dict[int, str]:
        """Each node's grad as the page holds it, full precision ("" before one arrives)."""
        found = self.page.eval_on_selector_all(
            "#graph g.node[id^=v]", "gs => gs.map(g => [g.id, g.getAttribute('data-grad')])"
        )
        return {int(i[1:]): g for i, g in found if re.fullmatch(r"v\d+", i) and g is not None}

    def shown_grad(self, i: int) -> str:
        texts = self.page.eval_on_selector_all(f"#v{i} text", "ts => ts.map(t => t.textContent)")
        return [t for t in texts if t.startswith("grad ")][-1]

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))


@pytest.mark.browser
def test_stepping_replays_backward_with_the_engines_numbers(browser: Any, tmp_path: Path) -> None:
    net = chapter()
    path = render(net.C, tmp_path / "c.html", rankdir="TB")
    index = walk(net.C)
    steps = len(backward_order(net.C))
    page = Page(browser, path)

    start = page.grads()
    assert start[0] == "1" and all(g == "" for i, g in start.items() if i != 0)
    assert page.text("#step-count") == f"step 0 of {steps}"
    assert page.shown_grad(index[net.w1]) == "grad —"

    page.page.click("#step")  # C = 0.5 * (y - a2)**2 passes 1 x 0.5 to the square, 1 x 0.1429 to 0.5
    square = index[net.C.inputs[1]]
    assert page.grads()[square] == repr(0.5) and page.shown_grad(square) == "grad 0.5000"
    assert "((y - a2)**2).grad = C.grad × ∂C/∂((y - a2)**2) = 1.0000 × 0.5000 = 0.5000" in page.text(
        "#explain"
    )
    page.page.click("#back")
    assert page.grads()[square] == "" and page.text("#step-count") == f"step 0 of {steps}"

    for k in range(1, steps + 1):
        page.page.keyboard.press("ArrowRight")
        assert page.text("#step-count") == f"step {k} of {steps}"
        processed = backward_order(net.C)[k - 1]
        assert page.page.get_attribute(f"#v{index[processed]}", "class").endswith("mg-active")
    page.page.keyboard.press("ArrowRight")  # past the end: nothing happens
    assert page.text("#step-count") == f"step {steps} of {steps}"
    final = page.grads()
    for node, i in index.items():
        assert float(final[i]) == node.grad, node  # the same products and sums, in the same order
        if node.label is not None or not node.is_leaf:
            assert page.shown_grad(i) == f"grad {number(node.grad)}"
    assert "Done" in page.text("#explain")

    page.page.keyboard.press("Home")
    assert page.text("#step-count") == f"step 0 of {steps}"
    for _ in range(steps - 2):
        page.page.keyboard.press("ArrowRight")
    page.page.click("#play")  # plays the last two steps
    page.page.wait_for_function(
        f"document.getElementById('step-count').textContent === 'step {steps} of {steps}'"
    )
    assert page.text("#play") == "play"  # it stops itself at the end
    screenshot = page.page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert len(screenshot) > 20_000
    assert page.errors == [] and page.dialogs == []
    assert all(url.startswith("file://") for url in page.requests)


@pytest.mark.browser
def test_clicking_a_leaf_shows_its_paths_and_the_chain_rule(browser: Any, tmp_path: Path) -> None:
    net = chapter()
    index = walk(net.C)
    page = Page(browser, render(net.C, tmp_path / "c.html", rankdir="TB"))
    page.page.click(f"#v{index[net.w1]}")
    rule = page.text("#rule")
    assert "∂C/∂w1 = ∂C/∂((y - a2)**2)" in rule
    assert f"= {number(net.w1.grad)}" in rule and f"w1.grad = {number(net.w1.grad)}" in rule
    on_path = page.page.eval_on_selector_all("#graph g.edge.mg-path", "es => es.map(e => e.id)")
    assert len([e for e in on_path if e.startswith("e")]) == 9  # one path of nine ops
    dimmed = page.page.eval_on_selector_all("#graph g.mg-dim", "gs => gs.map(g => g.id)")
    assert f"v{index[net.w2]}" in dimmed and f"v{index[net.w1]}" not in dimmed
    page.page.click("header h1")  # not the graph: nothing changes
    page.page.click("#graph svg", position={"x": 3, "y": 3})  # the background clears the choice
    assert page.page.eval_on_selector_all("#graph .mg-dim", "gs => gs.length") == 0
    assert page.errors == []


@pytest.mark.browser
def test_hostile_labels_show_as_text_and_run_nothing(browser: Any, tmp_path: Path) -> None:
    x = Value(1.0, label=HOSTILE)
    y = (x * 2.0).exp()
    y.backward()
    page = Page(browser, render(y, tmp_path / "h.html"))
    assert page.page.eval_on_selector_all("script", "s => s.length") == 1
    assert page.page.eval_on_selector_all("img", "s => s.length") == 0
    texts = page.page.eval_on_selector_all("#graph text", "ts => ts.map(t => t.textContent)")
    assert any(HOSTILE.strip() in t for t in texts)
    page.page.click(f"#v{walk(y)[x]}")
    assert HOSTILE.strip().rstrip("\\").strip() in page.text("#rule")
    page.page.keyboard.press("ArrowRight")
    assert page.dialogs == [] and page.errors == []


@pytest.mark.browser
def test_nan_and_infinite_values_are_shown_not_broken(browser: Any, tmp_path: Path) -> None:
    x = Value(math.inf, label="x")
    w = Value(0.0, label="w")
    y = x * w + x
    y.backward()
    assert math.isnan(y.data)
    page = Page(browser, render(y, tmp_path / "nan.html"))
    for _ in range(3):
        page.page.keyboard.press("ArrowRight")
    index = walk(y)
    assert page.shown_grad(index[w]) == "grad inf"  # d(x*w)/dw = x
    assert page.shown_grad(index[x]) == f"grad {number(x.grad)}"  # w + 1
    assert page.shown_grad(index[y]) == "grad 1.0000"
    texts = " ".join(page.page.eval_on_selector_all("#graph text", "ts => ts.map(t => t.textContent)"))
    assert "data nan" in texts and "data inf" in texts
    assert page.errors == []


@pytest.mark.browser
def test_a_reused_value_collects_the_sum_over_its_paths_step_by_step(browser: Any, tmp_path: Path) -> None:
    x = Value(0.7, label="x")
    u = x * x
    y = u * x.sin() + u / (x + 1.0)
    y.label = "y"
    y.backward()
    index = walk(y)
    page = Page(browser, render(y, tmp_path / "r.html"))
    steps = len(backward_order(y))
    explained = []
    for _ in range(steps):
        page.page.keyboard.press("ArrowRight")
        explained.append(page.text("#explain"))
    # x is reached four times (twice through x*x, through sin, through x + 1): later arrivals add on
    additions = [line for text in explained for line in text.splitlines() if line.startswith("x.grad ")]
    assert len(additions) == 4
    assert sum(line.startswith("x.grad += ") for line in additions) == 3
    final = page.grads()
    for node, i in index.items():
        assert float(final[i]) == node.grad, node  # bit for bit, in the engine's order
    assert page.errors == []


@pytest.mark.browser
def test_the_forward_pass_writes_an_ops_other_constants(browser: Any, tmp_path: Path) -> None:
    x = Value(-0.5, label="x")
    y = x.leaky_relu(0.2) * 2.0
    y.label = "y"
    y.backward()
    page = Page(browser, render(y, tmp_path / "f.html"))
    page.page.click("#fwd-step")  # the leaky_relu node: named by its expression, written as a call
    name = "leaky_relu(x, negative_slope=0.2)"
    assert f"{name} = {name} = leaky_relu((-0.5000), negative_slope=0.2) = -0.1000" in page.text("#explain")
    assert page.errors == []


# --- what a browser shows: every text inside its box, on a bare machine --------------------------

SYSTEM_DOT = shutil.which("dot")
LAYOUT_PROGRAMS = [
    pytest.param(
        "dot", id="system-dot", marks=pytest.mark.skipif(SYSTEM_DOT is None, reason="no system dot")
    ),
    pytest.param("graphviz-pure", id="graphviz-pure"),
]

# Each text's box (the glyphs' advance widths in the font the browser found) must lie inside
# the shape of its node: the box's outline, or for an op's ellipse, inside the ellipse across
# the text's middle; and every text inside the picture. Half a pixel of rounding is allowed.
TEXTS_OUTSIDE = """(svg) => {
  const bad = [], slack = 0.5;
  const page = svg.getBoundingClientRect();
  const inside = (a, b) => a.left >= b.left - slack && a.right <= b.right + slack &&
    a.top >= b.top - slack && a.bottom <= b.bottom + slack;
  for (const t of svg.querySelectorAll("text")) {
    const r = t.getBoundingClientRect(), what = t.textContent;
    if (!what.trim()) continue;
    if (!inside(r, page)) bad.push("outside the picture: " + what);
    const g = t.closest("g.node");
    if (!g) continue;
    const shape = g.querySelector("polygon, ellipse, path"), s = shape.getBoundingClientRect();
    if (!inside(r, s)) { bad.push(g.id + ": " + what + " passes its box"); continue; }
    if (shape.tagName === "ellipse") {
      const cx = (s.left + s.right) / 2, cy = (s.top + s.bottom) / 2;
      const rx = s.width / 2, ry = s.height / 2, y = (r.top + r.bottom) / 2;
      const at = (x) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      if (at(r.left) > 1.02 || at(r.right) > 1.02) bad.push(g.id + ": " + what + " passes its ellipse");
    }
  }
  return bad;
}"""


@pytest.fixture
def layout_program(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The layout program ``render`` finds: system dot, or graphviz-pure alone with ``dot``
    hidden from PATH, as on a bare machine that followed the Quickstart."""
    if request.param == "graphviz-pure":
        if layout.installed_graphviz_pure() is None:
            pytest.skip("no graphviz-pure")
        empty = tmp_path / "bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    program = find_layout_program()
    assert program is not None and program.stem == request.param
    return str(request.param)


def demo_pictures(folder: Path) -> Network:
    """The pictures ``microgrsucc demo`` writes for the chapter's network."""
    net = chapter()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--out", str(folder)]) == 0
    return net


@pytest.mark.browser
@pytest.mark.parametrize("layout_program", LAYOUT_PROGRAMS, indirect=True)
def test_every_text_of_the_svg_lies_inside_its_box_and_the_picture(
    browser: Any, layout_program: str, tmp_path: Path
) -> None:
    demo_pictures(tmp_path)
    net = chapter()
    x, w, b = Value(0.5), Value(-1.5), Value(0.25)  # unlabelled leaves, wide numbers and a long label
    y = (x * w + b).tanh() * Value(-12345.678, label="a rather long label for a parameter")
    y.backward()
    for name, path in [
        ("demo", tmp_path / "chapter-network.svg"),
        ("demo-w1", render(net.C, tmp_path / "w1.svg", rankdir="TB", highlight=net.w1)),
        ("lr", render(y, tmp_path / "lr.svg")),
        ("tb", render(y, tmp_path / "tb.svg", rankdir="TB")),
    ]:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(path.as_uri())
        assert page.eval_on_selector("svg", TEXTS_OUTSIDE) == [], (layout_program, name)
        size = page.eval_on_selector(
            "svg", "s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height]"
        )
        page.set_viewport_size({"width": int(size[0]) + 1, "height": int(size[1]) + 1})
        page.screenshot(path=str(tmp_path / f"{name}-{layout_program}.png"))  # a whole SVG, to look at
        page.close()


@pytest.mark.browser
@pytest.mark.parametrize("layout_program", LAYOUT_PROGRAMS, indirect=True)
def test_the_page_fits_the_graph_keeps_the_explanation_in_view_and_its_text_in_the_boxes(
    browser: Any, layout_program: str, tmp_path: Path
) -> None:
    demo_pictures(tmp_path)
    page = Page(browser, tmp_path / "chapter-network.html", viewport={"width": 1024, "height": 700})
    view = page.page.viewport_size
    frame = page.page.eval_on_selector("#graph", "e => e.getBoundingClientRect().toJSON()")
    graph = page.page.eval_on_selector("#graph svg g.graph", "e => e.getBoundingClientRect().toJSON()")
    # The whole graph is in view on open, its top included, and no smaller than it need be.
    assert frame["left"] - 0.5 <= graph["left"] and graph["right"] <= frame["right"] + 0.5
    assert frame["top"] - 0.5 <= graph["top"] and graph["bottom"] <= frame["bottom"] + 0.5
    assert graph["height"] > 0.9 * frame["height"] or graph["width"] > 0.9 * frame["width"]
    for k in range(len(backward_order(chapter().C)) + 1):
        explain = page.page.eval_on_selector("#explain", "e => e.getBoundingClientRect().toJSON()")
        assert explain["top"] >= 0 and explain["bottom"] <= view["height"], f"step {k}"
        assert page.page.eval_on_selector("#graph svg", TEXTS_OUTSIDE) == [], f"step {k}"
        page.page.keyboard.press("ArrowRight")
    page.page.screenshot(path=str(tmp_path / f"page-{layout_program}.png"))
    # The chain rule is wrapped between terms by the engine, never inside one by the browser.
    net = chapter()
    page.page.click(f"#v{walk(net.C)[net.w1]}")
    pre = page.page.eval_on_selector(
        "#rule pre",
        "p => [p.textContent.split('\\n').length, p.getBoundingClientRect().height,"
        " parseFloat(getComputedStyle(p).lineHeight)]",
    )
    lines, height, line_height = pre
    assert abs(height - lines * line_height) < line_height / 2
    # Zooming in and out, and fitting again.
    before = page.page.eval_on_selector("#graph svg", "s => s.getAttribute('viewBox')")
    page.page.click("#zoom-in")
    assert page.page.eval_on_selector("#graph svg", "s => s.getAttribute('viewBox')") != before
    page.page.click("#fit")
    assert page.page.eval_on_selector("#graph svg", "s => s.getAttribute('viewBox')") == before
    assert page.errors == []


def step_to_the_end(page: Page) -> None:
    while not page.page.is_disabled("#step"):
        page.page.click("#step")


@pytest.mark.browser
def test_after_two_backward_calls_the_page_ends_with_the_grads_the_engine_holds(
    browser: Any, tmp_path: Path
) -> None:
    x = Value(0.7, label="x")
    h = x * x
    y = h.sin() * 3.0
    y.backward()
    y.backward()  # x.grad adds up over the calls; h.grad holds the last pass
    page = Page(browser, render(y, tmp_path / "twice.html"))
    step_to_the_end(page)
    final, index = page.grads(), walk(y)
    for node, i in index.items():
        assert float(final[i]) == node.grad, node
    assert page.shown_grad(index[x]) == f"grad {number(x.grad)}"
    assert "adds up over backward() calls" in page.text("#explain")
    assert page.errors == []


@pytest.mark.browser
def test_after_backward_of_zero_the_page_never_claims_grads_the_engine_does_not_hold(
    browser: Any, tmp_path: Path
) -> None:
    x = Value(0.7, label="x")
    y = (x * x).sin()
    y.backward(0.0)
    page = Page(browser, render(y, tmp_path / "zero.html"))
    step_to_the_end(page)
    final, index = page.grads(), walk(y)
    if Value(0.0).grad is None:  # a new grad is None: backward(0.0) is told apart from no backward()
        for node, i in index.items():
            assert float(final[i]) == node.grad == 0.0, node
        assert "as backward() left it" in page.text("#explain")
    else:  # a new grad is 0.0, as backward(0.0) leaves it: the page shows what backward() computes
        assert float(final[index[x]]) == pytest.approx(2 * 0.7 * math.cos(0.49), rel=1e-15)
        assert "as backward() left it" not in page.text("#explain")
        assert "as backward() will compute it" in page.text("#explain")
    assert page.errors == []


# --- the living page: edit a leaf, train, step forward, practise ----------------------------------

CHAPTER_PARAMETERS = ("w1", "b1", "w2", "b2")


def live_chapter_page(browser: Any, tmp_path: Path) -> tuple[Page, Network, dict[Value, int]]:
    net = chapter()
    parameters = [getattr(net, name) for name in CHAPTER_PARAMETERS]
    page = Page(browser, render(net.C, tmp_path / "live.html", rankdir="TB", parameters=parameters))
    return page, net, walk(net.C)


def numbers_on_the_page(page: Page) -> dict[str, float]:
    """Every node's data and grad and every arrow's local derivative, full precision."""
    found = page.page.eval_on_selector_all(
        "#graph g[id]",
        "gs => gs.flatMap(g => [['value', g.getAttribute('data-value')],"
        " ['grad', g.getAttribute('data-grad')], ['local', g.getAttribute('data-local')]]"
        ".filter(([, v]) => v !== null && v !== '')"
        ".map(([k, v]) => [g.id + ':' + k, Number(v)]))",
    )
    return dict(found)


def set_leaf(page: Page, i: int, value: float) -> None:
    page.page.fill(f"#leaf-{i}", repr(value))
    page.page.dispatch_event(f"#leaf-{i}", "change")


def engine_numbers(net: Network, index: dict[Value, int]) -> dict[str, float]:
    numbers = {}
    for node, i in index.items():
        numbers[f"v{i}:value"] = node.data
        numbers[f"v{i}:grad"] = float(node.grad)
        for k, d in enumerate(node.local_grads()):
            numbers[f"e{i}_{k}:local"] = d
    return numbers


@pytest.mark.browser
def test_changing_w1_in_the_page_recomputes_every_number_as_the_engine_does(
    browser: Any, tmp_path: Path
) -> None:
    page, net, index = live_chapter_page(browser, tmp_path)
    w1 = 2.75
    set_leaf(page, index[net.w1], w1)
    step_to_the_end(page)
    shown = numbers_on_the_page(page)
    engine = network(**{**DEFAULTS, "w1": w1})
    engine.C.backward()
    expected = engine_numbers(engine, walk(engine.C))
    assert set(expected) <= set(shown)
    for key, want in expected.items():
        assert shown[key] == pytest.approx(want, rel=1e-12, abs=1e-15), key
    assert page.shown_grad(index[net.w1]) == f"grad {number(engine.w1.grad)}"
    texts = page.page.eval_on_selector_all(f"#v{index[net.a1]} text", "ts => ts.map(t => t.textContent)")
    assert f"data {number(engine.a1.data)}" in texts
    assert page.errors == []


@pytest.mark.browser
def test_train_takes_sgd_steps_on_the_parameters_and_the_loss_falls(browser: Any, tmp_path: Path) -> None:
    page, net, index = live_chapter_page(browser, tmp_path)
    page.page.fill("#lr", "2.5")
    for _ in range(4):
        page.page.click("#train")
    losses = page.text("#losses").split(": ", 1)[1].split(" → ")
    assert len(losses) == 5 and [float(x) for x in losses] == sorted(map(float, losses), reverse=True)
    # The same four steps by the engine: a forward pass at the parameters, backward, then
    # p.data -= lr * p.grad (a graph differentiates at the values its forward pass saw).
    values = dict(DEFAULTS)
    for _ in range(4):
        engine = network(**values)
        engine.C.backward()
        values.update(
            {
                name: getattr(engine, name).data - 2.5 * getattr(engine, name).grad
                for name in CHAPTER_PARAMETERS
            }
        )
    final = network(**values)
    shown = numbers_on_the_page(page)
    for name in CHAPTER_PARAMETERS:
        assert shown[f"v{index[getattr(net, name)]}:value"] == pytest.approx(values[name], rel=1e-12), name
    assert shown["v0:value"] == pytest.approx(final.C.data, rel=1e-12)
    assert page.errors == []


@pytest.mark.browser
def test_the_forward_pass_steps_node_by_node(browser: Any, tmp_path: Path) -> None:
    page, net, index = live_chapter_page(browser, tmp_path)
    forward = list(reversed(backward_order(net.C)))
    page.page.click("#fwd-step")
    assert page.text("#step-count") == f"forward 1 of {len(forward)}"
    assert f"w1*a0 = w1 * a0 = 0.6000 * 0.5000 = {number(net.w1.data * 0.5)}" in page.text("#explain")
    texts = page.page.eval_on_selector_all(f"#v{index[net.a2]} text", "ts => ts.map(t => t.textContent)")
    assert "data —" in texts  # not computed yet
    for k in range(2, len(forward) + 1):
        page.page.click("#fwd-step")
        node = forward[k - 1]
        assert page.page.get_attribute(f"#v{index[node]}", "class").endswith("mg-active")
        assert f"= {number(node.data)}" in page.text("#explain")
    assert f"Done: C = {number(net.C.data)}" in page.text("#explain")
    page.page.click("#step")  # back to backward()
    assert page.text("#step-count") == f"step 1 of {len(forward)}"
    assert page.errors == []


@pytest.mark.browser
def test_practice_checks_each_grad_gives_hints_and_keeps_score(browser: Any, tmp_path: Path) -> None:
    page, net, index = live_chapter_page(browser, tmp_path)
    page.page.click("#practice")
    assert page.shown_grad(index[net.w1]) == "grad ?" and page.shown_grad(0) == "grad ?"
    asked = [*backward_order(net.C)]
    asked += [v for v in sorted(walk(net.C), key=index.__getitem__) if v.is_leaf and v.label is not None]
    wrong = 0
    for k, node in enumerate(asked):
        assert wrap_name(node, net) in page.text("#question")
        if k % 3 == 1:  # a wrong answer first: the hint names the upstream grad and the arrow's formula
            page.page.fill("#answer", "123")
            page.page.click("#check")
            wrong += 1
            verdict = page.text("#verdict")
            assert "Not quite" in verdict and "upstream" in verdict
        answer = float(node.grad) * (1 + 5e-4)  # within rel 1e-3 of the engine's grad
        page.page.fill("#answer", repr(answer))
        page.page.press("#answer", "Enter")
        assert "Right" in page.text("#verdict"), node
        assert page.shown_grad(index[node]) == f"grad {number(node.grad)}"
    score = page.text("#score")
    assert f"{len(asked)} right, {len(asked) - wrong} on the first try, {len(asked) + wrong} answers" in score
    page.page.click("#practice")
    assert page.page.is_hidden("#quiz")
    assert page.errors == []


def wrap_name(node: Value, net: Network) -> str:
    return wrap(Graph(net.C).names[node]) + ".grad"


@pytest.mark.browser
def test_a_hint_shows_the_symbolic_local_derivative_on_the_arrow(browser: Any, tmp_path: Path) -> None:
    page, net, _ = live_chapter_page(browser, tmp_path)
    page.page.click("#practice")
    for node in backward_order(net.C):  # right answers up to z1, then a wrong one
        if node is net.z1:
            break
        page.page.fill("#answer", repr(float(node.grad)))
        page.page.press("#answer", "Enter")
    assert "What is z1.grad?" in page.text("#question")
    page.page.fill("#answer", "0")
    page.page.click("#check")
    hint = page.text("#verdict")
    assert f"upstream a1.grad = {number(net.a1.grad)}" in hint
    assert f"∂a1/∂z1 = a1(1 − a1) = {number(net.a1.data * (1 - net.a1.data))}" in hint


@pytest.mark.browser
def test_an_op_javascript_cannot_compute_falls_back_to_the_static_page(browser: Any, tmp_path: Path) -> None:
    x = Value(0.3, label="x")
    y = x.erf() * 2.0  # Math has no erf
    y.backward()
    page = Page(browser, render(y, tmp_path / "erf.html"))
    assert page.page.is_hidden("#live")
    assert "erf" in page.text("#static-note") and "replays the numbers" in page.text("#static-note")
    step_to_the_end(page)
    assert float(page.grads()[walk(y)[x]]) == x.grad
    assert page.errors == []


@pytest.mark.browser
def test_a_custom_op_is_printed_into_the_page_from_its_table_entry(browser: Any, tmp_path: Path) -> None:
    import microgrsucc as mg

    softplus = mg.custom_op(
        "smooth_relu", lambda x: math.log(1 + math.exp(x)), lambda F, x, out: F.sigmoid(x)
    )
    x = Value(0.3, label="x")
    y = softplus(x * x)
    y.backward()
    page = Page(browser, render(y, tmp_path / "softplus.html"))
    assert page.page.is_visible("#live")
    set_leaf(page, walk(y)[x], -1.7)
    step_to_the_end(page)
    engine_x = Value(-1.7, label="x")
    engine_y = softplus(engine_x * engine_x)
    engine_y.backward()
    shown = numbers_on_the_page(page)
    assert shown["v0:value"] == pytest.approx(engine_y.data, rel=1e-12)
    assert shown[f"v{walk(y)[x]}:grad"] == pytest.approx(engine_x.grad, rel=1e-12)
    assert page.errors == []


# --- the living page on random graphs, against the engine -----------------------------------------


def _page_numbers_after_editing(browser: Any, tmp_path: Path, f: RandomGraph, new: list[float]) -> None:
    """Render f at its inputs, type ``new`` into the leaves, run backward() in the page: every
    node's data and grad and every arrow's number must be the engine's for f at ``new``."""
    leaves = [Value(x, label=f"x{k}") for k, x in enumerate(f.inputs)]
    root = f(*leaves)
    index = walk(root)
    used = [leaf for leaf in leaves if leaf in index]
    page = Page(browser, render(root, tmp_path / "random.html", rankdir="TB", parameters=used))
    if page.page.is_hidden("#live"):
        reject()  # an op JavaScript cannot compute: the static page (its own test)
    for leaf, x in zip(leaves, new, strict=True):
        if leaf in index:
            set_leaf(page, index[leaf], x)
    assert page.errors == []
    step_to_the_end(page)
    again = [Value(x, label=f"x{k}") for k, x in enumerate(new)]
    out = f(*again)
    out.backward()
    expected = {}
    for node, i in walk(out).items():
        expected[f"v{i}:value"] = node.data
        expected[f"v{i}:grad"] = float(node.grad) if node.grad is not None else math.nan
        for k, d in enumerate(node.local_grads()):
            expected[f"e{i}_{k}:local"] = d
    shown = numbers_on_the_page(page)
    for key, want in expected.items():
        if key.endswith(":grad") and math.isnan(want):
            continue  # a node backward() never reached
        got = shown.get(key, math.nan)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True), (key, f, new)
    assert page.page.text_content("#static-note") == ""


def _edited_points(f: RandomGraph) -> st.SearchStrategy[list[float]]:
    return st.tuples(*(st.floats(-3.0, 3.0) for _ in f.inputs)).map(list)


@pytest.mark.browser
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_editing_leaves_of_random_graphs_shows_the_engines_numbers(
    browser: Any, tmp_path: Path, data: Any
) -> None:
    f = data.draw(graphs(max_ops=5))
    new = data.draw(_edited_points(f))
    try:
        f(*new)
    except (ArithmeticError, ValueError):
        reject()  # Python refuses the point; the page's refusal is test_javascript's
    _page_numbers_after_editing(browser, tmp_path, f, new)


@pytest.mark.browser
@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_editing_leaves_of_hundreds_of_random_graphs_shows_the_engines_numbers(
    browser: Any, tmp_path: Path, data: Any
) -> None:
    f = data.draw(graphs(max_ops=6))
    new = data.draw(_edited_points(f))
    try:
        f(*new)
    except (ArithmeticError, ValueError):
        reject()
    _page_numbers_after_editing(browser, tmp_path, f, new)
