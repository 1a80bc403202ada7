// fastmlp playground: the page.  The server trains; this draws the frames it
// streams (server-sent events) and sends the controls' changes to the JSON
// API.  Plain JavaScript, no dependencies.
"use strict";

const FEATURE_LABELS = {
  x1: "X\u2081", x2: "X\u2082", x1_squared: "X\u2081\u00B2", x2_squared: "X\u2082\u00B2",
  x1_times_x2: "X\u2081X\u2082", sin_x1: "sin(X\u2081)", sin_x2: "sin(X\u2082)",
};
const DATASET_LABELS = {
  circle: "Circle", xor: "Exclusive or", gaussians: "Two Gaussians", spiral: "Spiral",
  plane: "Plane", multi_gaussian: "Multi Gaussian",
};
const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const MOMENTA = [0, 0.5, 0.9, 0.95, 0.99];
const DROPOUTS = [0, 0.1, 0.2, 0.3, 0.5];
const N_POINTS = [100, 200, 500, 1000, 2000, 5000];
const EPOCHS_PER_FRAME = [1, 2, 5, 10, 25, 100];
// view settings kept in the URL beside the configuration
const VIEW_KEYS = ["show_test", "discretize"];

const $ = (id) => document.getElementById(id);

const app = {
  options: null, session: null, config: null, frame: null, drawnVersion: -1,
  data: null, dataVersion: -1, hover: null, framesRendered: 0, structure: "",
  nodes: [], links: [], pending: false,
};
window.fastmlpPlayground = app;  // for tests and tools: framesRendered, session

// ---- colours --------------------------------------------------------------

function hexRgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}
const NEG = hexRgb("#f59322"), MID = hexRgb("#e8eaeb"), POS = hexRgb("#0877bd");
// byte code (value in [-1, 1] as 0-255) -> RGB, continuous and discretized
const LUT = new Uint8ClampedArray(256 * 3), LUT_SIGN = new Uint8ClampedArray(256 * 3);
for (let i = 0; i < 256; i++) {
  const t = i / 127.5 - 1, [a, b] = t < 0 ? [MID, NEG] : [MID, POS], s = Math.abs(t);
  for (let c = 0; c < 3; c++) {
    LUT[3 * i + c] = a[c] + (b[c] - a[c]) * s;
    LUT_SIGN[3 * i + c] = (t < 0 ? NEG : POS)[c];
  }
}
function colourOf(value) {
  const i = Math.max(0, Math.min(255, Math.round((value + 1) * 127.5)));
  return `rgb(${LUT[3 * i]},${LUT[3 * i + 1]},${LUT[3 * i + 2]})`;
}

function decode(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// Paint codes[offset .. offset + n*n) into canvas (n x n pixels).
function paint(canvas, codes, offset, n, lut) {
  if (canvas.width !== n) { canvas.width = n; canvas.height = n; }
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(n, n), px = img.data;
  for (let i = 0; i < n * n; i++) {
    const c = codes[offset + i] * 3;
    px[4 * i] = lut[c]; px[4 * i + 1] = lut[c + 1]; px[4 * i + 2] = lut[c + 2]; px[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// ---- the API --------------------------------------------------------------

async function api(method, path, body) {
  const sep = path.includes("?") ? "&" : "?";
  const url = app.session ? `${path}${sep}session=${encodeURIComponent(app.session)}` : path;
  const response = await fetch(url, {
    method, headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let data;
  try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

async function send(method, path, body) {
  try {
    const state = await api(method, path, body);
    showMessage(state.error || "");
    applyState(state);
    return state;
  } catch (e) {
    showMessage(e.message);
    syncControls();  // back to what the server holds
    return null;
  }
}

const setConfig = (changes) => send("POST", "/api/config", changes);

// ---- URL <-> configuration -------------------------------------------------

function configFromHash() {
  const params = new URLSearchParams(location.hash.slice(1)), defaults = app.options.defaults;
  const config = {}, view = {};
  for (const [key, raw] of params) {
    if (VIEW_KEYS.includes(key)) { view[key] = raw === "1"; continue; }
    const d = defaults[key];
    if (d === undefined) { config[key] = raw; continue; }  // the server names it
    const parseOne = (v, like) => (typeof like === "boolean" ? v === "1" || v === "true"
      : typeof like === "number" ? Number(v) : v);
    if (Array.isArray(d)) {
      const like = key === "hidden" ? 1 : key === "dropout" ? 0 : key === "batch_norm" ? false : "";
      config[key] = raw === "" ? [] : raw.split(",").map((v) => parseOne(v, like));
    } else {
      config[key] = parseOne(raw, d);
    }
  }
  return { config, view };
}

function writeHash() {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(app.config)) {
    params.set(key, Array.isArray(value)
      ? value.map((v) => (typeof v === "boolean" ? (v ? 1 : 0) : v)).join(",") : String(value));
  }
  for (const key of VIEW_KEYS) params.set(key, $(key).checked ? "1" : "0");
  history.replaceState(null, "", "#" + params.toString());
}

// ---- controls ---------------------------------------------------------------

function fillSelect(select, values, label = String) {
  select.innerHTML = "";
  for (const v of values) {
    const option = document.createElement("option");
    option.value = String(v); option.textContent = label(v);
    select.appendChild(option);
  }
}

function ensureOption(select, value) {
  if (![...select.options].some((o) => o.value === String(value))) {
    const option = document.createElement("option");
    option.value = String(value); option.textContent = String(value);
    select.appendChild(option);
  }
  select.value = String(value);
}

function buildControls() {
  const o = app.options;
  fillSelect($("learning_rate"), LEARNING_RATES);
  fillSelect($("activation_all"), ["(per layer)", ...o.activations]);
  fillSelect($("regularization"), o.regularizations, (v) => ({ none: "None", l1: "L1", l2: "L2" }[v]));
  fillSelect($("regularization_rate"), REG_RATES);
  fillSelect($("problem"), Object.keys(o.problems), (v) => v[0].toUpperCase() + v.slice(1));
  fillSelect($("solver"), o.solvers);
  fillSelect($("momentum"), MOMENTA);
  fillSelect($("schedule"), o.schedules);
  fillSelect($("epochs_per_frame"), EPOCHS_PER_FRAME);
  fillSelect($("n_points"), N_POINTS);
  $("batch_size").max = 30;

  const number = (id) => () => setConfig({ [id]: Number($(id).value) });
  for (const id of ["learning_rate", "regularization_rate", "momentum", "epochs_per_frame",
    "n_points", "train_ratio", "noise", "batch_size", "data_seed", "seed"]) {
    $(id).addEventListener("change", number(id));
  }
  for (const id of ["train_ratio", "noise", "batch_size"]) {
    $(id).addEventListener("input", () => { $(id + "_out").textContent = $(id).value; });
  }
  for (const id of ["regularization", "problem", "solver", "schedule"]) {
    $(id).addEventListener("change", () => setConfig({ [id]: $(id).value }));
  }
  $("activation_all").addEventListener("change", () => {
    const v = $("activation_all").value;
    if (o.activations.includes(v)) setConfig({ activation: app.config.hidden.map(() => v) });
  });
  $("play").addEventListener("click", () => send("POST", app.frame && app.frame.running ? "/api/pause" : "/api/play"));
  $("step").addEventListener("click", () => send("POST", "/api/step"));
  $("reset").addEventListener("click", () => send("POST", "/api/reset"));
  $("regenerate").addEventListener("click", () => send("POST", "/api/regenerate"));
  $("add_layer").addEventListener("click", () => {
    const c = app.config;
    if (c.hidden.length >= o.max_hidden_layers) return;
    setConfig({
      hidden: [...c.hidden, 2],
      activation: [...c.activation, c.activation.length ? c.activation[c.activation.length - 1] : "tanh"],
      dropout: [...c.dropout, 0], batch_norm: [...c.batch_norm, false],
    });
  });
  $("remove_layer").addEventListener("click", () => {
    const c = app.config;
    if (!c.hidden.length) return;
    setConfig({
      hidden: c.hidden.slice(0, -1), activation: c.activation.slice(0, -1),
      dropout: c.dropout.slice(0, -1), batch_norm: c.batch_norm.slice(0, -1),
    });
  });
  for (const id of VIEW_KEYS) {
    $(id).addEventListener("change", () => { writeHash(); app.drawnVersion = -1; scheduleDraw(); });
  }
  $("code_details").addEventListener("toggle", refreshCode);
  $("copy_link").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(location.href); $("copy_link").textContent = "Link copied"; }
    catch (e) { showMessage("Copy this page's address: " + location.href); }
  });
}

function syncControls() {
  const c = app.config;
  if (!c) return;
  for (const id of ["learning_rate", "regularization_rate", "momentum", "epochs_per_frame", "n_points"]) {
    ensureOption($(id), c[id]);
  }
  for (const id of ["regularization", "problem", "solver", "schedule"]) $(id).value = c[id];
  for (const id of ["train_ratio", "noise", "batch_size"]) {
    $(id).value = c[id]; $(id + "_out").textContent = c[id];
  }
  $("data_seed").value = c.data_seed;
  $("seed").value = c.seed;
  $("momentum_field").hidden = c.solver !== "sgd";
  const same = c.activation.length && c.activation.every((a) => a === c.activation[0]);
  $("activation_all").value = same ? c.activation[0] : "(per layer)";
  $("regularization_rate").disabled = c.regularization === "none";
  $("layer_count").textContent = `${c.hidden.length} hidden layer${c.hidden.length === 1 ? "" : "s"}`;
  $("add_layer").disabled = c.hidden.length >= app.options.max_hidden_layers;
  $("remove_layer").disabled = c.hidden.length === 0;
  $("loss_name").textContent = c.problem === "classification"
    ? "Loss: log-loss (MLPClassifier). Colour: 2 P(class 1) \u2212 1."
    : "Loss: half the squared error (MLPRegressor).";
  const box = $("datasets");
  box.innerHTML = "";
  for (const name of app.options.problems[c.problem]) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = DATASET_LABELS[name] || name;
    b.setAttribute("aria-pressed", String(name === c.dataset));
    b.addEventListener("click", () => setConfig({ dataset: name }));
    box.appendChild(b);
  }
  buildNetwork();
}

function applyState(state) {
  app.config = state.config;
  syncControls();
  writeHash();
  $("download_model").href = `/api/model.pkl?session=${app.session}`;
  $("download_data").href = `/api/data.csv?session=${app.session}`;
  if (state.data_version !== app.dataVersion) loadData(state.data_version);
  refreshCode();
}

async function loadData(version) {
  app.dataVersion = version;
  try {
    const data = await api("GET", "/api/data");
    app.data = data; app.dataVersion = data.data_version; app.drawnVersion = -1; scheduleDraw();
  } catch (e) { showMessage(e.message); }
}

let codeTimer = null;
async function refreshCode() {
  if (!$("code_details").open || !app.session) return;
  clearTimeout(codeTimer);
  try {
    const response = await fetch(`/api/code?session=${encodeURIComponent(app.session)}`);
    $("code").textContent = await response.text();
  } catch (e) { /* the next refresh tries again */ }
  if (app.frame && app.frame.running) codeTimer = setTimeout(refreshCode, 1000);
}

// ---- the network diagram -----------------------------------------------------

function nodeElement(label, extraClass) {
  const node = document.createElement("div");
  node.className = "node " + (extraClass || "");
  if (label !== null) {
    const name = document.createElement("span");
    name.className = "name"; name.textContent = label;
    node.appendChild(name);
  }
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = app.options.neuron_grid;
  node.appendChild(canvas);
  return node;
}

function layerHead(l) {
  const c = app.config, head = document.createElement("div");
  head.className = "layer-head";
  const pm = document.createElement("div");
  pm.className = "pm";
  const plus = document.createElement("button"), minus = document.createElement("button");
  plus.type = minus.type = "button";
  plus.textContent = "+"; minus.textContent = "\u2212";
  plus.setAttribute("aria-label", `Add a neuron to layer ${l + 1}`);
  minus.setAttribute("aria-label", `Remove a neuron from layer ${l + 1}`);
  plus.disabled = c.hidden[l] >= app.options.max_neurons;
  minus.disabled = c.hidden[l] <= 1;
  const resize = (d) => () => setConfig({ hidden: c.hidden.map((n, i) => (i === l ? n + d : n)) });
  plus.addEventListener("click", resize(1));
  minus.addEventListener("click", resize(-1));
  pm.append(plus, minus);
  const count = document.createElement("span");
  count.textContent = `${c.hidden[l]} neuron${c.hidden[l] === 1 ? "" : "s"}`;
  const act = document.createElement("select");
  act.setAttribute("aria-label", `Activation of layer ${l + 1}`);
  fillSelect(act, app.options.activations);
  act.value = c.activation[l];
  act.addEventListener("change", () => setConfig({ activation: c.activation.map((a, i) => (i === l ? act.value : a)) }));
  const drop = document.createElement("select");
  drop.setAttribute("aria-label", `Dropout of layer ${l + 1}`);
  fillSelect(drop, DROPOUTS, (v) => `dropout ${v}`);
  ensureOption(drop, c.dropout[l]);
  drop.addEventListener("change", () => setConfig({ dropout: c.dropout.map((d, i) => (i === l ? Number(drop.value) : d)) }));
  const bn = document.createElement("label"), box = document.createElement("input");
  box.type = "checkbox"; box.checked = c.batch_norm[l];
  box.addEventListener("change", () => setConfig({ batch_norm: c.batch_norm.map((b, i) => (i === l ? box.checked : b)) }));
  bn.append(box, "batch norm");
  head.append(pm, count, act, drop, bn);
  return head;
}

function featureValue(name, x1, x2) {
  switch (name) {
    case "x1": return x1 / 6;
    case "x2": return x2 / 6;
    case "x1_squared": return x1 * x1 / 18 - 1;
    case "x2_squared": return x2 * x2 / 18 - 1;
    case "x1_times_x2": return x1 * x2 / 18;
    case "sin_x1": return Math.sin(x1);
    default: return Math.sin(x2);
  }
}

function featureCodes(name, n) {
  const codes = new Uint8Array(n * n), d = app.options.domain;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const x1 = -d + (2 * d * c) / (n - 1), x2 = d - (2 * d * r) / (n - 1);
      const v = Math.max(-1, Math.min(1, featureValue(name, x1, x2)));
      codes[r * n + c] = Math.round((v + 1) * 127.5);
    }
  }
  return codes;
}

// Rebuild the diagram when the features or the layer sizes change.
function buildNetwork() {
  const c = app.config, key = JSON.stringify([c.features, c.hidden, c.activation, c.dropout, c.batch_norm]);
  if (key === app.structure) return;
  app.structure = key;
  const columns = $("columns"), n = app.options.neuron_grid;
  columns.innerHTML = "";
  app.nodes = [];  // per column: [{el, canvas, kind, layer, index}]
  const features = document.createElement("div");
  features.className = "column";
  const head = document.createElement("div");
  head.className = "layer-head"; head.textContent = "Features";
  features.appendChild(head);
  const featureNodes = [];
  for (const name of app.options.features) {
    const on = c.features.includes(name);
    const node = nodeElement(FEATURE_LABELS[name], "feature" + (on ? "" : " off"));
    node.title = on ? "Click to remove this feature" : "Click to add this feature";
    node.setAttribute("role", "switch");
    node.setAttribute("aria-checked", String(on));
    node.setAttribute("aria-label", `Feature ${name}`);
    node.addEventListener("click", () => {
      const next = on ? c.features.filter((f) => f !== name) : [...c.features, name];
      setConfig({ features: next });
    });
    const canvas = node.querySelector("canvas");
    paint(canvas, featureCodes(name, n), 0, n, LUT);
    hoverable(node, { kind: "feature", name, codes: featureCodes(name, n) });
    features.appendChild(node);
    if (on) featureNodes.push({ el: node, canvas });
  }
  columns.appendChild(features);
  app.nodes.push(featureNodes);
  c.hidden.forEach((width, l) => {
    const column = document.createElement("div");
    column.className = "column";
    column.appendChild(layerHead(l));
    const nodes = [];
    for (let i = 0; i < width; i++) {
      const node = nodeElement(null, "hidden");
      hoverable(node, { kind: "neuron", layer: l, index: i });
      column.appendChild(node);
      nodes.push({ el: node, canvas: node.querySelector("canvas") });
    }
    columns.appendChild(column);
    app.nodes.push(nodes);
  });
  const out = document.createElement("div");
  out.className = "column";
  const outHead = document.createElement("div");
  outHead.className = "layer-head"; outHead.textContent = "Output";
  const outNode = document.createElement("div");
  outNode.className = "node output-node";
  outNode.style.width = outNode.style.height = "14px";
  outNode.style.borderRadius = "50%"; outNode.style.background = "#999";
  out.append(outHead, outNode);
  columns.appendChild(out);
  app.nodes.push([{ el: outNode, canvas: null }]);
  requestAnimationFrame(buildLinks);
}

function hoverable(node, what) {
  node.addEventListener("mouseenter", () => { app.hover = what; app.drawnVersion = -1; scheduleDraw(); });
  node.addEventListener("mouseleave", () => { app.hover = null; app.drawnVersion = -1; scheduleDraw(); });
}

function buildLinks() {
  const svg = $("links"), box = $("network").getBoundingClientRect();
  svg.innerHTML = "";
  app.links = [];
  const anchor = (el, side) => {
    const r = (el.querySelector("canvas") || el).getBoundingClientRect();
    return [side === "out" ? r.right - box.left : r.left - box.left, r.top + r.height / 2 - box.top];
  };
  for (let l = 0; l + 1 < app.nodes.length; l++) {
    const layerLinks = [];
    for (const from of app.nodes[l]) {
      const row = [];
      for (const to of app.nodes[l + 1]) {
        const [x1, y1] = anchor(from.el, "out"), [x2, y2] = anchor(to.el, "in");
        const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
        line.setAttribute("x1", x1); line.setAttribute("y1", y1);
        line.setAttribute("x2", x2); line.setAttribute("y2", y2);
        line.setAttribute("stroke", "#ccc"); line.setAttribute("stroke-width", "1");
        svg.appendChild(line);
        row.push(line);
      }
      layerLinks.push(row);
    }
    app.links.push(layerLinks);
  }
  app.drawnVersion = -1;
  scheduleDraw();
}
window.addEventListener("resize", () => requestAnimationFrame(buildLinks));

// ---- drawing a frame ------------------------------------------------------------

let drawQueued = false;
function scheduleDraw() {
  if (!drawQueued) { drawQueued = true; requestAnimationFrame(draw); }
}

function formatLoss(v) { return v === null || v === undefined ? "\u2013" : v.toFixed(3); }

function draw() {
  drawQueued = false;
  const f = app.frame;
  if (!f || !app.config || f.version === app.drawnVersion) return;
  app.drawnVersion = f.version;
  $("epoch").textContent = String(f.epoch).padStart(6, "0").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  $("train_loss").textContent = formatLoss(f.train_loss);
  $("test_loss").textContent = formatLoss(f.test_loss);
  const play = $("play"), label = f.running ? "Pause" : "Play";
  if (play.getAttribute("aria-label") !== label) {
    play.setAttribute("aria-label", label);
    play.classList.toggle("running", f.running);
  }
  drawBoundary(f);
  drawNeurons(f);
  drawLinks(f);
  drawLossChart(f);
  app.framesRendered++;
}

function drawBoundary(f) {
  const canvas = $("boundary"), ctx = canvas.getContext("2d"), o = app.options;
  const off = app.offscreen || (app.offscreen = document.createElement("canvas"));
  const h = app.hover;
  let label = "";
  if (h && h.kind === "feature") {
    paint(off, h.codes, 0, o.neuron_grid, LUT); label = FEATURE_LABELS[h.name];
  } else if (h && h.kind === "neuron" && f.neurons && f.neurons[h.layer]) {
    const n = o.neuron_grid;
    paint(off, decodeCached(f, "n" + h.layer, f.neurons[h.layer]), h.index * n * n, n, LUT);
    label = `layer ${h.layer + 1}, neuron ${h.index + 1}`;
  } else if (f.boundary) {
    paint(off, decodeCached(f, "b", f.boundary), 0, o.grid, $("discretize").checked ? LUT_SIGN : LUT);
  } else {
    off.width = off.height = 1;
    const octx = off.getContext("2d");
    octx.fillStyle = "#eeeeee"; octx.fillRect(0, 0, 1, 1);
  }
  $("hover_label").hidden = !label;
  $("hover_label").textContent = label;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  if (!app.data) return;
  const scale = canvas.width / (2 * o.domain), regression = app.config.problem === "regression";
  const points = (rows, stroke) => {
    ctx.strokeStyle = stroke; ctx.lineWidth = 1;
    for (const [x1, x2, y] of rows) {
      ctx.beginPath();
      ctx.arc((x1 + o.domain) * scale, (o.domain - x2) * scale, 3, 0, 2 * Math.PI);
      ctx.fillStyle = regression ? colourOf(y) : (y > 0 ? "#0877bd" : "#f59322");
      ctx.fill(); ctx.stroke();
    }
  };
  points(app.data.train, "white");
  if ($("show_test").checked) points(app.data.test, "black");
}

// one decoding per frame and map
function decodeCached(f, key, b64) {
  f._decoded = f._decoded || {};
  return f._decoded[key] || (f._decoded[key] = decode(b64));
}

function drawNeurons(f) {
  const n = app.options.neuron_grid;
  for (let l = 0; l < app.config.hidden.length; l++) {
    const nodes = app.nodes[l + 1];
    if (!nodes) continue;
    if (!f.neurons || !f.neurons[l]) {
      for (const node of nodes) node.canvas.getContext("2d").clearRect(0, 0, n, n);
      continue;
    }
    const codes = decodeCached(f, "n" + l, f.neurons[l]);
    nodes.forEach((node, i) => { if (codes.length >= (i + 1) * n * n) paint(node.canvas, codes, i * n * n, n, LUT); });
  }
}

function drawLinks(f) {
  for (let l = 0; l < app.links.length; l++) {
    const W = f.weights && f.weights[l];
    app.links[l].forEach((row, i) => row.forEach((line, j) => {
      const w = W && W[i] ? W[i][j] : undefined;
      if (w === undefined) { line.setAttribute("stroke", "#ccc"); line.setAttribute("stroke-width", "1"); return; }
      line.setAttribute("stroke", w > 0 ? "#0877bd" : "#f59322");
      line.setAttribute("stroke-width", Math.min(6, 0.4 + 1.6 * Math.abs(w)).toFixed(2));
      line.setAttribute("stroke-opacity", Math.min(1, 0.25 + Math.abs(w)).toFixed(2));
    }));
  }
}

function drawLossChart(f) {
  const canvas = $("loss"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const h = f.history;
  if (!h || h.length < 2) return;
  let max = 0;
  for (const [, tr, te] of h) max = Math.max(max, tr || 0, te || 0);
  if (max <= 0) return;
  const last = h[h.length - 1][0], first = h[0][0];
  const x = (e) => ((e - first) / Math.max(1, last - first)) * (W - 2) + 1;
  const y = (v) => H - 2 - (v / max) * (H - 6);
  for (const [index, colour] of [[1, "#333"], [2, "#999"]]) {
    ctx.beginPath(); ctx.strokeStyle = colour; ctx.lineWidth = 1.5;
    let started = false;
    for (const row of h) {
      if (row[index] === null) continue;
      if (!started) { ctx.moveTo(x(row[0]), y(row[index])); started = true; } else ctx.lineTo(x(row[0]), y(row[index]));
    }
    ctx.stroke();
  }
}

// ---- the frame stream ---------------------------------------------------------------

function connect() {
  const source = new EventSource(`/api/events?session=${encodeURIComponent(app.session)}`);
  source.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    const wasRunning = app.frame && app.frame.running;
    app.frame = frame;
    if (frame.data_version !== app.dataVersion) loadData(frame.data_version);
    if (frame.error) showMessage(frame.error);
    if (wasRunning && !frame.running) refreshCode();
    scheduleDraw();
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) showMessage("Lost the connection to the playground server.");
  };
  app.source = source;
}

async function start() {
  try {
    app.options = await api("GET", "/api/options");
  } catch (e) {
    showMessage("Cannot reach the playground server: " + e.message);
    return;
  }
  buildControls();
  const { config, view } = configFromHash();
  for (const key of VIEW_KEYS) $(key).checked = !!view[key];
  let state;
  try {
    state = await api("POST", "/api/sessions", { config });
  } catch (e) {
    showMessage(`The link's setup was refused (${e.message}); starting from the defaults.`);
    state = await api("POST", "/api/sessions", { config: {} });
  }
  app.session = state.session;
  applyState(state);
  connect();
  for (const id of ["reset", "play", "step"]) $(id).disabled = false;
  window.addEventListener("pagehide", () => {
    navigator.sendBeacon(`/api/close?session=${encodeURIComponent(app.session)}`);
  });
}

start();
