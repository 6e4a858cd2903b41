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
    if (group === null) return Infinity; // an arrow's label: nothing to run into
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
  function replay(k, seed) {
    grads = nodes.map(() => null);
    grads[0] = seed === undefined ? DATA.seed : seed;
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
    if (!DATA.called || edited) return differ;
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
    fwd = null;
    replay(done);
    const differ = done === order.length ? held() : [];
    nodes.forEach((node, i) => {
      const t = gradText(i);
      const g = el(id.node(i));
      if (g) g.setAttribute("data-grad", grads[i] === null ? "" : String(grads[i]));
      const hidden = quiz !== null && !quiz.revealed.has(i);
      if (t) setText(t, "grad " + (hidden ? "?" : fmt(quiz !== null ? quiz.full[i] : grads[i])));
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
    if (quiz !== null) return; // practising: the steps would give the answers away
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
      if (!edited) rule.append(pre); // its numbers are those the graph was drawn with
      if (info.formula) {
        rule.append(div("In symbols, each local derivative from the op table:"));
        const symbols = document.createElement("pre");
        symbols.className = "formula";
        symbols.textContent = info.formula.split(" \u00B7 ").join("\n    \u00B7 ");
        rule.append(symbols);
      }
    }
    if (edited) {
      replay(order.length);
      rule.append(div("At the values in the page, " + wrap(nodes[i].name) + ".grad = " + fmt(grads[i]) + "."));
      replay(done);
      return;
    }
    rule.append(div(nodes[i].grad === null
      ? "The engine holds no grad for " + wrap(nodes[i].name) + " yet: call backward()."
      : "The engine holds " + wrap(nodes[i].name) + ".grad = " + fmt(nodes[i].grad) + "."));
  }
  let chosen = null;

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

  // --- the forward pass, one node at a time ----------------------------------------------------
  const forwardOrder = order.slice().reverse();
  let fwd = null; // while stepping forward: how many nodes are computed
  const INFIX = { "+": 1, "-": 1, "*": 1, "/": 1, "**": 1 };
  const dataText = (i) => {
    const g = el(id.node(i));
    return g ? Array.from(g.querySelectorAll("text")).find((t) => t.textContent.startsWith("data ")) : undefined;
  };
  function written(n, show) {
    const node = nodes[n], args = node.inputs.map(show);
    if (INFIX[node.opName] && args.length === 2) return args[0] + " " + node.opName + " " + args[1];
    if (node.opName.startsWith("**")) return args[0] + node.opName;
    if (node.opName === "neg") return "-" + args[0];
    return node.opName + "(" + args.concat(node.constants).join(", ") + ")";
  }
  function showForward() {
    const computed = new Set(forwardOrder.slice(0, fwd));
    nodes.forEach((node, i) => {
      const t = dataText(i), g = gradText(i);
      if (t && !node.leaf) setText(t, "data " + (computed.has(i) ? fmt(node.data) : "\u2014"));
      if (g) setText(g, "grad \u2014");
    });
    ["mg-active", "mg-active-op", "mg-updated", "mg-flow"].forEach(clear);
    const box = el("explain");
    box.replaceChildren();
    el("step-count").textContent = "forward " + fwd + " of " + forwardOrder.length;
    el("fwd-back").disabled = fwd === 0;
    el("fwd-step").disabled = fwd === forwardOrder.length;
    if (fwd === 0) {
      box.append(div("The forward pass: the leaves hold their values; each step computes one node " +
        "from its inputs, each after the nodes it uses. The grads come later, from backward()."));
      return;
    }
    const n = forwardOrder[fwd - 1];
    mark(id.node(n), "mg-active");
    mark(id.op(n), "mg-active-op");
    nodes[n].inputs.forEach((j, k) => { mark(id.node(j), "mg-updated"); mark(id.edge(n, k), "mg-flow"); });
    inView(n);
    box.append(div("Forward " + fwd + ": " + nodes[n].name + " = " + written(n, (j) => wrap(nodes[j].name)) +
      " = " + written(n, (j) => factor(nodes[j].data)) + " = " + fmt(nodes[n].data)));
    if (fwd === forwardOrder.length) box.append(div("Done: " + DATA.rootName + " = " + fmt(nodes[0].data) +
      ". Now backward() can run: press step."));
  }
  function forward(k) {
    if (quiz !== null) return;
    stop();
    fwd = Math.max(0, Math.min(forwardOrder.length, k));
    showForward();
  }
  el("fwd-step").addEventListener("click", () => forward(fwd === null ? 1 : fwd + 1));
  el("fwd-back").addEventListener("click", () => forward(fwd === null ? forwardOrder.length - 1 : fwd - 1));

  // --- the living page: change a leaf, train, and every number follows --------------------------
  let edited = false;
  const live = DATA.live && OPS !== null;
  const short = (x) => (Number.isInteger(x) && Math.abs(x) < 1e6 ? String(x) : fmt(x));
  // Every node's data and every arrow's local derivative from the leaves, by the printed ops.
  function recompute() {
    const before = nodes.map((node) => [node.data, node.local]);
    try {
      forwardOrder.forEach((n) => {
        const node = nodes[n], op = OPS[node.op], args = node.inputs.map((j) => nodes[j].data);
        node.data = op.f(...args);
        node.local = op.d(...args, node.data);
      });
    } catch (err) {
      nodes.forEach((node, i) => { node.data = before[i][0]; node.local = before[i][1]; });
      throw err;
    }
    edited = true;
  }
  function refreshNumbers() {
    nodes.forEach((node, i) => {
      const g = el(id.node(i));
      if (!g) return;
      g.setAttribute("data-value", String(node.data));
      const t = dataText(i);
      if (t && !node.constant) setText(t, "data " + fmt(node.data));
      node.inputs.forEach((j, k) => {
        const e = el(id.edge(i, k));
        if (!e) return;
        e.setAttribute("data-local", String(node.local[k]));
        const label = Array.from(e.querySelectorAll("text")).find((x) => x.textContent.includes(" = "));
        if (!label) return;
        if (label.dataset.prefix === undefined) {
          label.dataset.prefix = label.textContent.slice(0, label.textContent.lastIndexOf(" = "));
        }
        setText(label, label.dataset.prefix + " = " + short(node.local[k]));
      });
    });
  }
  function changed(note) {
    refreshNumbers();
    if (quiz !== null) startPractice();
    go(done);
    if (chosen !== null) choose(chosen);
    if (note) el("static-note").textContent = note;
  }
  const inputs = new Map();
  function setLeaf(i, value) {
    const old = nodes[i].data;
    nodes[i].data = value;
    try {
      recompute();
    } catch (err) {
      nodes[i].data = old;
      inputs.get(i).value = String(old);
      changed(String(err.message) + ": " + nodes[i].name + " is back to " + fmt(old) + ".");
      return;
    }
    losses.splice(0, losses.length, nodes[0].data); // a new start: the loss from here
    el("losses").textContent = DATA.rootName + ": " + fmt(nodes[0].data);
    changed("");
  }
  const losses = [];
  function train() {
    const lr = Number(el("lr").value);
    if (!Number.isFinite(lr)) return;
    replay(order.length, 1.0);
    const step = DATA.params.map((p) => [p, nodes[p].data - lr * (grads[p] === null ? 0 : grads[p])]);
    const old = step.map(([p]) => nodes[p].data);
    step.forEach(([p, v]) => { nodes[p].data = v; });
    try {
      recompute();
    } catch (err) {
      step.forEach(([p], k) => { nodes[p].data = old[k]; });
      changed(String(err.message) + ": the step is undone.");
      return;
    }
    step.forEach(([p, v]) => { inputs.get(p).value = String(v); });
    losses.push(nodes[0].data);
    el("losses").textContent = DATA.rootName + ": " + losses.map(fmt).join(" \u2192 ");
    changed("");
  }
  if (live) {
    el("live").hidden = false;
    const box = el("leaves");
    nodes.forEach((node, i) => {
      if (!node.leaf || node.constant) return;
      const label = document.createElement("label");
      label.htmlFor = "leaf-" + i;
      label.textContent = node.name + (DATA.params.includes(i) ? " (parameter)" : "");
      const input = document.createElement("input");
      input.type = "number";
      input.step = "any";
      input.id = "leaf-" + i;
      input.value = String(node.data);
      input.addEventListener("change", () => {
        const v = Number(input.value);
        if (input.value.trim() !== "" && Number.isFinite(v)) setLeaf(i, v);
      });
      inputs.set(i, input);
      box.append(label, input);
    });
    el("train").addEventListener("click", train);
    el("train").disabled = DATA.params.length === 0;
    losses.push(nodes[0].data);
    el("losses").textContent = DATA.rootName + ": " + fmt(nodes[0].data);
    refreshNumbers();
  } else {
    el("static-note").textContent = "This page replays the numbers backward() recorded: " + DATA.fallback + ".";
  }

  // --- practice: the learner works out each grad ----------------------------------------------
  let quiz = null;
  const consumers = nodes.map(() => []);
  order.forEach((n) => nodes[n].inputs.forEach((j, k) => { if (j < shown) consumers[j].push([n, k]); }));
  function startPractice() {
    replay(order.length);
    const full = grads.slice();
    const leaves = nodes.map((_, i) => i).filter((i) => nodes[i].leaf && !nodes[i].constant && full[i] !== null);
    const asked = order.concat(leaves);
    quiz = quiz === null ? { right: 0, first: 0, tries: 0 } : quiz;
    Object.assign(quiz, { asked: asked, k: 0, full: full, revealed: new Set(), missed: false });
    el("quiz").hidden = false;
    el("practice").classList.add("on");
    ask();
  }
  function ask() {
    const q = el("question");
    el("verdict").replaceChildren();
    el("score").textContent = "score: " + quiz.right + " right, " + quiz.first + " on the first try, " +
      quiz.tries + " answers";
    if (quiz.k === quiz.asked.length) {
      q.textContent = "Every grad is worked out. Press practice to leave, or change a number and go again.";
      return;
    }
    const i = quiz.asked[quiz.k];
    clear("mg-active");
    mark(id.node(i), "mg-active");
    inView(i);
    q.textContent = i === 0
      ? "What is " + wrap(nodes[0].name) + ".grad? backward() starts the root with it."
      : "What is " + wrap(nodes[i].name) + ".grad? Add, over the arrows leaving it, (the grad of the op's " +
        "output) \u00D7 (the local derivative on the arrow).";
    el("answer").value = "";
    el("answer").focus();
  }
  function check() {
    if (quiz === null || quiz.k === quiz.asked.length) return;
    const i = quiz.asked[quiz.k], want = quiz.full[i];
    const got = Number(el("answer").value.replace("\u2212", "-"));
    const right = Number.isFinite(want)
      ? Math.abs(got - want) <= 1e-3 * Math.abs(want) || got === want
      : String(want) === String(got);
    quiz.tries += 1;
    el("score").textContent = "score: " + quiz.right + " right, " + quiz.first + " on the first try, " +
      quiz.tries + " answers";
    const verdict = el("verdict");
    verdict.replaceChildren();
    if (right) {
      quiz.right += 1;
      if (!quiz.missed) quiz.first += 1;
      quiz.missed = false;
      quiz.revealed.add(i);
      quiz.k += 1;
      show();
      ask();
      const ok = div("Right: " + wrap(nodes[i].name) + ".grad = " + fmt(want) + ".");
      ok.className = "right";
      el("verdict").append(ok);
      return;
    }
    quiz.missed = true;
    const miss = div("Not quite. " + wrap(nodes[i].name) + ".grad is not " + el("answer").value + ". Hint:");
    miss.className = "miss";
    const list = document.createElement("ul");
    if (i === 0) list.append(li("backward() starts the root with " + fmt(DATA.seed) + "."));
    consumers[i].forEach(([n, k]) => {
      const out = wrap(nodes[n].name), upstream = quiz.revealed.has(n) ? fmt(quiz.full[n]) : "?";
      list.append(li("upstream " + out + ".grad = " + upstream + "; on the arrow \u2202" + out + "/\u2202" +
        wrap(nodes[i].name) + " = " + (nodes[n].localText[k] || "") + " = " + short(nodes[n].local[k])));
    });
    verdict.append(miss, list);
  }
  el("practice").addEventListener("click", () => {
    if (quiz !== null) {
      quiz = null;
      el("quiz").hidden = true;
      el("practice").classList.remove("on");
      go(done);
      return;
    }
    stop();
    startPractice();
    show();
  });
  el("check").addEventListener("click", check);
  el("answer").addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); check(); }
    event.stopPropagation(); // typing is not a step key
  });

  el("reset").addEventListener("click", () => go(0));
  el("back").addEventListener("click", () => go(done - 1));
  el("step").addEventListener("click", () => go(done + 1));
  el("play").addEventListener("click", play);
  el("zoom-in").addEventListener("click", () => zoom(1.25));
  el("zoom-out").addEventListener("click", () => zoom(0.8));
  el("fit").addEventListener("click", fit);
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLButtonElement && event.key === " ") return;
    if (event.target instanceof HTMLInputElement) return; // typing a number is not a step key
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
    chosen = i === undefined ? null : i;
    choose(chosen);
  });
  if (DATA.shown < DATA.total) {
    el("left-out").textContent = "The graph has " + DATA.total + " nodes; this page shows the " +
      DATA.shown + " nearest the root, and steps through those.";
  }
  fit();
  go(0);
})();
