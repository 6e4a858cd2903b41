# ruff: noqa: RUF002  -- the page prints the multiplication sign U+00D7
"""The interactive page: one self-contained HTML file that replays ``backward()`` step by step.

``render(root, "graph.html")`` lays the graph out as SVG (the same picture as ``draw``) and
wraps it here with a small inline script and style: no network, no CDN, it opens from disk.
The script replays the backward pass in the engine's order (``backward_order``), each step
adding (upstream grad × local derivative) to the grad of each input, and shows the chain rule
for a node that is clicked. Every user string reaches the page as JSON and is shown with
``textContent``; the SVG's text is escaped by the layout program; so a label cannot add markup.
"""

from __future__ import annotations

import html as html_module
import json
import re
from typing import Any

from microgrsucc.explain import Graph, chain_rule
from microgrsucc.value import Value

__all__ = ["MAX_RULES", "RULE_BUDGET", "html"]

MAX_RULES = 80
"""The page carries the written-out chain rule of at most this many nodes (leaves first)."""

RULE_BUDGET = 200_000
"""... and stops writing them out once they have visited this many nodes (large graphs)."""


def html(root: Value, svg: str, *, max_nodes: int | None) -> str:
    """The page for ``root``, around ``svg``: the graph as ``draw(root, max_nodes=...)`` lays it out."""
    graph = Graph(root)
    index, named, order = graph.index, graph.names, graph.order
    total = len(index)
    shown = total if max_nodes is None else min(total, max_nodes)
    nodes: list[dict[str, Any]] = []
    for node, i in index.items():
        if i >= shown:
            break
        nodes.append(
            {
                "name": named[node],
                "data": float(node.data),
                "grad": _float(node.grad),
                "leaf": node.is_leaf,
                "constant": node.is_leaf and node.label is None,
                "inputs": [index[p] for p in node.inputs],
                "local": list(node.local_grads()),
            }
        )
    visible = [node for node in index if index[node] < shown]
    chosen = sorted(visible, key=lambda v: (not v.is_leaf, v.label is None, index[v]))[:MAX_RULES]
    rules = {}
    spent = 0
    for node in chosen:
        if spent > RULE_BUDGET:  # a large graph: the rest show their paths and grad, not the rule
            break
        rule = chain_rule(root, node, graph=graph)
        rules[index[node]] = {"lines": rule.lines(width=72)}
        spent += len(rule.nodes)
    seed = _float(root.grad)
    data = {
        "seed": seed if seed != 0.0 else 1.0,
        "order": [index[v] for v in order if index[v] < shown],
        "nodes": nodes,
        "rules": rules,
        "shown": shown,
        "total": total,
        "rootName": named[root],
    }
    parts = {
        "TITLE": html_module.escape(f"{named[root]}: backward() step by step"),
        "SVG": _svg_body(svg),
        "DATA": _script_json(data),
    }
    # One pass over the template, so a label that reads "__DATA__" is not filled in itself.
    return re.sub(r"__(TITLE|SVG|DATA)__", lambda m: parts[m.group(1)], _template())


def _float(x: Any) -> float:
    if x is None:  # no backward() has reached the node: the page starts from 0, as for a zeroed grad
        return 0.0
    return float(x.data if isinstance(x, Value) else x)


def _svg_body(svg: str) -> str:
    """The ``<svg>`` element alone: no XML prolog, doctype or comments before it."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("the layout program wrote no SVG")
    return svg[start:].strip()


def _script_json(data: dict[str, Any]) -> str:
    """``data`` as a JavaScript literal safe inside ``<script>``: no ``</script>``, no ``<!--``.

    NaN and infinities are written as ``NaN`` and ``Infinity``, which are JavaScript.
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _template() -> str:
    return _TEMPLATE


# The page. Plain DOM and SVG, no library. Text from the graph is set with textContent only.
_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 15px/1.45 system-ui, "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0; color: #222; }
  header { padding: 10px 16px; border-bottom: 1px solid #ddd; background: #fafafa;
           display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center;
           position: sticky; top: 0; z-index: 1; }
  header h1 { font-size: 16px; margin: 0 12px 0 0; font-weight: 600; }
  button { font: inherit; padding: 4px 12px; border: 1px solid #aaa; border-radius: 5px;
           background: #fff; cursor: pointer; }
  button:hover { background: #f0f0f0; }
  button:disabled { color: #aaa; cursor: default; }
  #step-count { font-variant-numeric: tabular-nums; color: #555; }
  main { display: flex; flex-wrap: wrap; gap: 16px; padding: 12px 16px; align-items: flex-start; }
  #graph { flex: 1 1 560px; overflow: auto; max-height: calc(100vh - 80px); }
  #graph svg { max-width: 100%; height: auto; }
  aside { flex: 0 1 440px; min-width: 300px; }
  aside h2 { font-size: 15px; margin: 4px 0 6px; }
  #explain, #rule { background: #f7f7f7; border: 1px solid #e2e2e2; border-radius: 6px;
                    padding: 8px 10px; margin: 0 0 12px; }
  #explain li { margin: 2px 0; font-variant-numeric: tabular-nums; }
  #explain ul { margin: 6px 0 0; padding-left: 18px; }
  #rule pre { font: 13px/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; margin: 6px 0 0;
              white-space: pre-wrap; }
  .hint { color: #666; font-size: 13px; }
  .node { cursor: pointer; }
  .mg-active > polygon, .mg-active > ellipse { stroke: #d9480f !important; stroke-width: 3px; }
  .mg-active-op > ellipse { fill: #ffd8a8 !important; stroke: #d9480f !important; stroke-width: 3px; }
  .mg-updated > polygon:first-of-type { fill: #c8f2c2 !important; }
  .mg-flow > path { stroke: #d9480f !important; stroke-width: 3px; }
  .mg-flow > polygon { fill: #d9480f !important; stroke: #d9480f !important; }
  .mg-flow > text { fill: #d9480f !important; font-weight: bold; }
  .mg-dim { opacity: 0.28; }
  .mg-path > polygon, .mg-path > ellipse, .mg-path > path { stroke: #d9480f !important; stroke-width: 2.5px; }
</style>
</head>
<body>
<header>
  <h1>backward(), one node at a time</h1>
  <button id="reset" title="Reset (Home)">&#x21BA; reset</button>
  <button id="back" title="Step back (left arrow)">&#x25C0; back</button>
  <button id="step" title="Step (right arrow)">step &#x25B6;</button>
  <button id="play" title="Play or pause (space)">play</button>
  <span id="step-count"></span>
</header>
<main>
  <div id="graph">
__SVG__
  </div>
  <aside>
    <h2>This step</h2>
    <div id="explain"></div>
    <h2>Chain rule</h2>
    <div id="rule"><span class="hint">Click a box, a leaf (an input or a parameter) for instance, to
      see every path from it to the root and the chain rule along them.</span></div>
    <p class="hint">backward() visits the nodes in this order, each after every node that uses it.
      At each step the node marked in orange passes its grad to its inputs: each input's grad grows by
      (the node's grad) &#xD7; (the local derivative on the arrow). A node used on several paths adds
      them up. Keys: &#x2192; step, &#x2190; back, space play, Home reset.</p>
    <p class="hint" id="left-out"></p>
  </aside>
</main>
<script>
"use strict";
const DATA = __DATA__;
(function () {
  const nodes = DATA.nodes, order = DATA.order, shown = DATA.shown;
  let done = 0, timer = null, grads = [], last = null;

  function fmt(x) {
    if (x === null) return "\u2014";
    if (Number.isNaN(x)) return "nan";
    if (x === Infinity) return "inf";
    if (x === -Infinity) return "-inf";
    if (x === 0) return "0";
    const a = Math.abs(x);
    if (a >= 1e-4 && a < 1e6) return x.toFixed(4);
    return x.toExponential(3).replace(/e([+-])(\d)$/, "e$10$2");
  }
  function wrap(name) {
    return /^[\w.#]+$/u.test(name) ? name : "(" + name + ")";
  }
  function factor(x) {
    const t = Number.isInteger(x) && Math.abs(x) < 1e6 ? String(x) : fmt(x);
    return t.startsWith("-") ? "(" + t + ")" : t;
  }
  const el = (id) => document.getElementById(id);
  const gradText = (i) => {
    const g = el("v" + i);
    if (!g) return null;
    const texts = Array.from(g.querySelectorAll("text")).filter((t) => t.textContent.startsWith("grad "));
    return texts.length ? texts[texts.length - 1] : null;
  };

  // Replays the first k steps of backward(): the same products and sums, in the same order.
  function replay(k) {
    grads = nodes.map(() => null);
    grads[0] = DATA.seed;
    last = null;
    for (let s = 0; s < k; s++) {
      const n = order[s], g = grads[n], updates = [];
      nodes[n].inputs.forEach((j, pos) => {
        if (j >= shown) return;
        const d = nodes[n].local[pos], before = grads[j], add = g * d;
        grads[j] = before === null ? add : before + add;
        updates.push({ j: j, pos: pos, before: before, g: g, d: d, after: grads[j] });
      });
      last = { n: n, updates: updates };
    }
  }

  function clear(cls) {
    document.querySelectorAll("." + cls).forEach((e) => e.classList.remove(cls));
  }
  function mark(id, cls) {
    const e = el(id);
    if (e) e.classList.add(cls);
  }
  function into_view(id) {
    const e = el(id);
    if (e && e.scrollIntoView) e.scrollIntoView({ block: "center", inline: "nearest" });
  }
  function li(text) {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }

  function show() {
    replay(done);
    nodes.forEach((node, i) => {
      const t = gradText(i);
      const g = el("v" + i);
      if (g) g.setAttribute("data-grad", grads[i] === null ? "" : String(grads[i]));
      if (t) t.textContent = "grad " + fmt(grads[i]);
    });
    ["mg-active", "mg-active-op", "mg-updated", "mg-flow"].forEach(clear);
    const box = el("explain");
    box.replaceChildren();
    el("step-count").textContent = "step " + done + " of " + order.length;
    el("back").disabled = el("reset").disabled = done === 0;
    el("step").disabled = done === order.length;
    if (last === null) {
      const p = document.createElement("div");
      const r = wrap(DATA.rootName);
      p.textContent = "Start: " + r + ".grad = " + fmt(DATA.seed) +
        " (d" + r + "/d" + r + "). Every other grad is still empty (\u2014).";
      box.append(p);
      into_view("v0");
      return;
    }
    const n = last.n, node = nodes[n];
    into_view("v" + n);
    mark("v" + n, "mg-active");
    mark("v" + n + "op", "mg-active-op");
    const head = document.createElement("div");
    head.textContent = "Step " + done + ": " + node.name + " (grad " + fmt(grads[n]) +
      ") passes its grad through its op to " + (last.updates.length === 1 ? "its input:" : "its inputs:");
    const list = document.createElement("ul");
    last.updates.forEach((u) => {
      mark("v" + u.j, "mg-updated");
      mark("e" + n + "_" + u.pos, "mg-flow");
      const who = wrap(nodes[u.j].name) + ".grad";
      const out = wrap(node.name);
      const rule = out + ".grad \u00D7 \u2202" + out + "/\u2202" + wrap(nodes[u.j].name);
      const product = fmt(u.g) + " \u00D7 " + factor(u.d);
      list.append(li(u.before === null
        ? who + " = " + rule + " = " + product + " = " + fmt(u.after)
        : who + " += " + rule + ": " + fmt(u.before) + " + " + product + " = " + fmt(u.after)));
    });
    box.append(head, list);
    if (done === order.length) {
      const end = document.createElement("div");
      end.textContent = "Done: every grad is d" + wrap(DATA.rootName) + "/d(node), as backward() left it.";
      box.append(end);
    }
  }

  function go(k) {
    done = Math.max(0, Math.min(order.length, k));
    show();
  }
  function stop() {
    clearInterval(timer);
    timer = null;
    el("play").textContent = "play";
  }
  function play() {
    if (timer !== null) { stop(); return; }
    if (done === order.length) go(0);
    el("play").textContent = "pause";
    timer = setInterval(() => {
      go(done + 1);
      if (done >= order.length) stop();
    }, 900);
  }

  // Clicking a node: its paths up to the root, and the chain rule written out.
  function dependsOn(start) {
    const on = new Set([start]);
    for (let s = order.length - 1; s >= 0; s--) {
      const n = order[s];
      if (nodes[n].inputs.some((j) => on.has(j))) on.add(n);
    }
    return on;
  }
  function choose(i) {
    clear("mg-dim");
    clear("mg-path");
    const rule = el("rule");
    rule.replaceChildren();
    if (i === null) {
      const hint = document.createElement("span");
      hint.className = "hint";
      hint.textContent = "Click a box to see its paths to the root and the chain rule along them.";
      rule.append(hint);
      return;
    }
    const on = dependsOn(i);
    document.querySelectorAll("#graph g.node, #graph g.edge").forEach((e) => e.classList.add("mg-dim"));
    on.forEach((n) => {
      ["v" + n, "v" + n + "op", "o" + n].forEach((id) => {
        const e = el(id);
        if (e && (n !== i || id === "v" + n)) { e.classList.remove("mg-dim"); e.classList.add("mg-path"); }
      });
      if (n === i) return;
      nodes[n].inputs.forEach((j, pos) => {
        if (!on.has(j)) return;
        const e = el("e" + n + "_" + pos);
        if (e) { e.classList.remove("mg-dim"); e.classList.add("mg-path"); }
      });
    });
    const info = DATA.rules[i];
    const head = document.createElement("div");
    if (!on.has(0)) {
      head.textContent = DATA.rootName + " does not depend on " + nodes[i].name + ": its grad is 0.";
      rule.append(head);
      return;
    }
    head.textContent = "d" + wrap(DATA.rootName) + "/d" + wrap(nodes[i].name) +
      ": multiply the local derivatives along each path, then add the paths.";
    rule.append(head);
    if (info) {
      const pre = document.createElement("pre");
      pre.textContent = info.lines.join("\n");
      rule.append(pre);
    }
    const grad = document.createElement("div");
    grad.textContent = "The engine holds " + wrap(nodes[i].name) + ".grad = " + fmt(nodes[i].grad) + ".";
    rule.append(grad);
  }

  el("reset").addEventListener("click", () => go(0));
  el("back").addEventListener("click", () => go(done - 1));
  el("step").addEventListener("click", () => go(done + 1));
  el("play").addEventListener("click", play);
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLButtonElement && event.key === " ") return;
    const keys = {
      ArrowRight: () => go(done + 1), ArrowLeft: () => go(done - 1), Home: () => go(0), " ": play,
    };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
  document.querySelector("#graph svg").addEventListener("click", (event) => {
    const g = event.target.closest("g.node");
    const m = g && /^v(\d+)$/.exec(g.id);
    choose(m ? Number(m[1]) : null);
  });
  if (DATA.shown < DATA.total) {
    el("left-out").textContent = "The graph has " + DATA.total + " nodes; this page shows the " +
      DATA.shown + " nearest the root, and steps through those.";
  }
  go(0);
})();
</script>
</body>
</html>
"""
