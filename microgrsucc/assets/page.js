// The page's script: replays backward() step by step over the SVG that draw() laid out, shows
// the chain rule of a clicked node, and fits, pans and zooms the graph. It reads DATA, which
// page.py writes into the page: the nodes, the engine's numbers, and the element ids.
// Text from the graph is set with textContent only, so a label cannot add markup.
/* global DATA */
(function () {
  "use strict";
  const nodes = DATA.nodes, order = DATA.order, shown = DATA.shown;
  let done = 0, timer = null, grads = [], last = null;

  // The element ids draw() gives the SVG's groups (page.py's ELEMENT_IDS, defined once there).
  const id = {
    node: (i) => DATA.ids.node.replace("{i}", i),
    op: (i) => DATA.ids.op.replace("{i}", i),
    edge: (i, k) => DATA.ids.edge.replace("{i}", i).replace("{k}", k),
    output: (i) => DATA.ids.output.replace("{i}", i),
  };
  const nodeOf = new Map(nodes.map((_, i) => [id.node(i), i]));

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
  const el = (name) => document.getElementById(name);
  const svg = document.querySelector("#graph svg");

  // --- the numbers in the boxes ---------------------------------------------------------------
  // A box was laid out for the numbers draw() printed; a number the page shows instead may be
  // wider. Each text knows its room (up to the next text on its row, or the box's edge) and is
  // narrowed to it when it would pass it, so no number runs out of its box.
  const rooms = new Map();
  function roomOf(text) {
    if (rooms.has(text)) return rooms.get(text);
    const group = text.closest("g.node");
    const box = group.querySelector("polygon, ellipse, path").getBBox();
    const x = text.getBBox().x, y = Number(text.getAttribute("y"));
    let right = box.x + box.width - 3;
    group.querySelectorAll("text").forEach((other) => {
      const ox = other.getBBox().x;
      if (other !== text && Math.abs(Number(other.getAttribute("y")) - y) < 3 && ox > x) {
        right = Math.min(right, ox - 4);
      }
    });
    const room = Math.max(right - x, text.getComputedTextLength());
    rooms.set(text, room);
    return room;
  }
  function setText(text, value) {
    const room = roomOf(text);
    text.removeAttribute("textLength");
    text.textContent = value;
    if (text.getComputedTextLength() > room) {
      text.setAttribute("textLength", String(room));
      text.setAttribute("lengthAdjust", "spacingAndGlyphs");
    }
  }
  const gradText = (i) => {
    const g = el(id.node(i));
    if (!g) return null;
    const texts = Array.from(g.querySelectorAll("text")).filter((t) => t.textContent.startsWith("grad "));
    return texts.length ? texts[texts.length - 1] : null;
  };

  // --- backward(), step by step ---------------------------------------------------------------
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
  // After the last step the engine's own grads are shown: a leaf's grad adds up over
  // backward() calls until zero_grad(), so it may hold more than this one pass gave it.
  function held() {
    const differ = [];
    if (!DATA.called) return differ;
    nodes.forEach((node, i) => {
      if (node.grad !== null && !Object.is(node.grad, grads[i])) {
        differ.push({ i: i, pass: grads[i] });
        grads[i] = node.grad;
      }
    });
    return differ;
  }

  function clear(cls) {
    document.querySelectorAll("." + cls).forEach((e) => e.classList.remove(cls));
  }
  function mark(name, cls) {
    const e = el(name);
    if (e) e.classList.add(cls);
  }
  function li(text) {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }
  function div(text) {
    const d = document.createElement("div");
    d.textContent = text;
    return d;
  }

  function show() {
    replay(done);
    const differ = done === order.length ? held() : [];
    nodes.forEach((node, i) => {
      const t = gradText(i);
      const g = el(id.node(i));
      if (g) g.setAttribute("data-grad", grads[i] === null ? "" : String(grads[i]));
      if (t) setText(t, "grad " + fmt(grads[i]));
    });
    ["mg-active", "mg-active-op", "mg-updated", "mg-flow"].forEach(clear);
    const box = el("explain");
    box.replaceChildren();
    el("step-count").textContent = "step " + done + " of " + order.length;
    el("back").disabled = el("reset").disabled = done === 0;
    el("step").disabled = done === order.length;
    const r = wrap(DATA.rootName);
    if (last === null) {
      box.append(div("Start: " + r + ".grad = " + fmt(DATA.seed) + " (" + DATA.seedNote +
        "). Every other grad is still empty (\u2014)."));
      inView(0);
      return;
    }
    const n = last.n, node = nodes[n];
    inView(n);
    mark(id.node(n), "mg-active");
    mark(id.op(n), "mg-active-op");
    const list = document.createElement("ul");
    last.updates.forEach((u) => {
      mark(id.node(u.j), "mg-updated");
      mark(id.edge(n, u.pos), "mg-flow");
      const who = wrap(nodes[u.j].name) + ".grad";
      const out = wrap(node.name);
      const rule = out + ".grad \u00D7 \u2202" + out + "/\u2202" + wrap(nodes[u.j].name);
      const product = fmt(u.g) + " \u00D7 " + factor(u.d);
      list.append(li(u.before === null
        ? who + " = " + rule + " = " + product + " = " + fmt(u.after)
        : who + " += " + rule + ": " + fmt(u.before) + " + " + product + " = " + fmt(u.after)));
    });
    box.append(div("Step " + done + ": " + node.name + " (grad " + fmt(grads[n]) +
      ") passes its grad through its op to " + (last.updates.length === 1 ? "its input:" : "its inputs:")), list);
    if (done === order.length) {
      box.append(div(DATA.called
        ? "Done: every grad is d" + r + "/d(node), as backward() left it."
        : "Done: every grad is d" + r + "/d(node), as backward() will compute it."));
      differ.forEach((d) => {
        box.append(div(wrap(nodes[d.i].name) + ".grad holds " + fmt(nodes[d.i].grad) + ", not the " +
          fmt(d.pass) + " of this pass: a leaf's grad adds up over backward() calls until zero_grad()."));
      });
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

  // --- clicking a node: its paths up to the root, and the chain rule written out ---------------
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
      const hint = div("Click a box to see its paths to the root and the chain rule along them.");
      hint.className = "hint";
      rule.append(hint);
      return;
    }
    const on = dependsOn(i);
    document.querySelectorAll("#graph g.node, #graph g.edge").forEach((e) => e.classList.add("mg-dim"));
    on.forEach((n) => {
      [id.node(n), id.op(n), id.output(n)].forEach((name) => {
        const e = el(name);
        if (e && (n !== i || name === id.node(n))) { e.classList.remove("mg-dim"); e.classList.add("mg-path"); }
      });
      if (n === i) return;
      nodes[n].inputs.forEach((j, pos) => {
        if (!on.has(j)) return;
        const e = el(id.edge(n, pos));
        if (e) { e.classList.remove("mg-dim"); e.classList.add("mg-path"); }
      });
    });
    const info = DATA.rules[i];
    if (!on.has(0)) {
      rule.append(div(DATA.rootName + " does not depend on " + nodes[i].name + ": its grad is 0."));
      return;
    }
    rule.append(div("d" + wrap(DATA.rootName) + "/d" + wrap(nodes[i].name) +
      ": multiply the local derivatives along each path, then add the paths."));
    if (info) {
      const pre = document.createElement("pre");
      pre.textContent = info.lines.join("\n");
      rule.append(pre);
      if (info.formula) {
        rule.append(div("In symbols, each local derivative from the op table:"));
        const symbols = document.createElement("pre");
        symbols.className = "formula";
        symbols.textContent = info.formula.split(" \u00B7 ").join("\n    \u00B7 ");
        rule.append(symbols);
      }
    }
    rule.append(div(nodes[i].grad === null
      ? "The engine holds no grad for " + wrap(nodes[i].name) + " yet: call backward()."
      : "The engine holds " + wrap(nodes[i].name) + ".grad = " + fmt(nodes[i].grad) + "."));
  }

  // --- fit, pan and zoom: the SVG's viewBox is the part of the graph in view -------------------
  const full = svg.viewBox.baseVal;
  const whole = { x: full.x, y: full.y, w: full.width, h: full.height };
  const MAX_SCALE = 1.5; // a small graph is not blown up past this many pixels per point
  let view = { cx: whole.x + whole.w / 2, cy: whole.y + whole.h / 2, s: 1 };
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const frame = el("graph");

  function apply() {
    const W = frame.clientWidth || 1, H = frame.clientHeight || 1;
    const w = W / view.s, h = H / view.s;
    svg.setAttribute("viewBox", [view.cx - w / 2, view.cy - h / 2, w, h].join(" "));
  }
  function fit() {
    const W = frame.clientWidth || 1, H = frame.clientHeight || 1;
    view = {
      cx: whole.x + whole.w / 2,
      cy: whole.y + whole.h / 2,
      s: Math.min(W / whole.w, H / whole.h, MAX_SCALE) * 0.98,
    };
    apply();
  }
  function zoom(f, px, py) {
    const W = frame.clientWidth, H = frame.clientHeight;
    const x = px === undefined ? W / 2 : px, y = py === undefined ? H / 2 : py;
    const ux = view.cx + (x - W / 2) / view.s, uy = view.cy + (y - H / 2) / view.s;
    view.s = Math.min(Math.max(view.s * f, 0.02), 20);
    view.cx = ux - (x - W / 2) / view.s;
    view.cy = uy - (y - H / 2) / view.s;
    apply();
  }
  // A node the step is about comes into view when it is not: the view moves, its zoom stays.
  function inView(i) {
    const g = el(id.node(i));
    if (!g) return;
    const b = g.getBoundingClientRect(), f = frame.getBoundingClientRect();
    if (b.left >= f.left && b.right <= f.right && b.top >= f.top && b.bottom <= f.bottom) return;
    const box = g.getBBox();
    view.cx = box.x + box.width / 2;
    view.cy = box.y + box.height / 2;
    apply();
  }
  frame.addEventListener("wheel", (event) => {
    event.preventDefault();
    const f = frame.getBoundingClientRect();
    zoom(Math.exp(-event.deltaY / 400), event.clientX - f.left, event.clientY - f.top);
  }, { passive: false });
  let drag = null;
  frame.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, cx: view.cx, cy: view.cy, moved: false };
  });
  window.addEventListener("pointermove", (event) => {
    if (drag === null) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    drag.moved = true;
    frame.classList.add("mg-dragging");
    view.cx = drag.cx - dx / view.s;
    view.cy = drag.cy - dy / view.s;
    apply();
  });
  window.addEventListener("pointerup", () => {
    frame.classList.remove("mg-dragging");
    setTimeout(() => { drag = null; }, 0); // the click that ends a drag chooses nothing
  });
  window.addEventListener("resize", apply);

  el("reset").addEventListener("click", () => go(0));
  el("back").addEventListener("click", () => go(done - 1));
  el("step").addEventListener("click", () => go(done + 1));
  el("play").addEventListener("click", play);
  el("zoom-in").addEventListener("click", () => zoom(1.25));
  el("zoom-out").addEventListener("click", () => zoom(0.8));
  el("fit").addEventListener("click", fit);
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLButtonElement && event.key === " ") return;
    const keys = {
      ArrowRight: () => go(done + 1), ArrowLeft: () => go(done - 1), Home: () => go(0), " ": play,
      "+": () => zoom(1.25), "=": () => zoom(1.25), "-": () => zoom(0.8), "0": fit,
    };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
  svg.addEventListener("click", (event) => {
    if (drag !== null && drag.moved) return;
    const g = event.target.closest("g.node");
    const i = g ? nodeOf.get(g.id) : undefined;
    choose(i === undefined ? null : i);
  });
  if (DATA.shown < DATA.total) {
    el("left-out").textContent = "The graph has " + DATA.total + " nodes; this page shows the " +
      DATA.shown + " nearest the root, and steps through those.";
  }
  fit();
  go(0);
})();
