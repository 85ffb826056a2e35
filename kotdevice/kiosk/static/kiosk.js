// kotdevice kiosk page. Talks only to the kiosk server that served it (Server-Sent Events +
// JSON), draws everything itself (SVG), and never parses device-supplied strings as HTML:
// every label goes through textContent / setAttribute on fixed attribute names.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const GAUGE = { cx: 140, cy: 118, r: 96, min: -40, max: 60 };  // degrees shown on the dial
const EXERCISE = { squat: "squat", tib_raise: "tibialis raise", backward_walk: "backward walk" };
const ACTIVITY = { in_set: "IN SET", test: "KNEE-TO-WALL", moving: "moving", idle: "" };
const BENCH = new URLSearchParams(location.search).has("bench");

const tiles = new Map();  // device id -> {el, refs, data}
const grid = document.getElementById("grid");
const template = document.getElementById("tile-template");
window.__kot = { tiles, lat: [], recvLat: [], recvTs: [], superseded: 0, events: 0, snapshots: 0 };

// ---------------------------------------------------------------- helpers
function repsText(n) { return `${n} rep${n === 1 ? "" : "s"}`; }
function fmt(v, digits = 0) {
  return (typeof v === "number" && isFinite(v)) ? v.toFixed(digits) : "–";
}
function polar(deg, r) {  // 0 deg = shin vertical, positive = knee forward (to the right)
  const a = deg * Math.PI / 180;
  return [GAUGE.cx + r * Math.sin(a), GAUGE.cy - r * Math.cos(a)];
}
function arcPath(d0, d1, r) {
  const [x0, y0] = polar(d0, r), [x1, y1] = polar(d1, r);
  return `M${x0.toFixed(1)} ${y0.toFixed(1)} A${r} ${r} 0 ${Math.abs(d1 - d0) > 180 ? 1 : 0} 1 ${x1.toFixed(1)} ${y1.toFixed(1)}`;
}
function setLine(el, x1, y1, x2, y2) {
  el.setAttribute("x1", x1.toFixed(1)); el.setAttribute("y1", y1.toFixed(1));
  el.setAttribute("x2", x2.toFixed(1)); el.setAttribute("y2", y2.toFixed(1));
}
// Write only what changed: unchanged text still costs a style and layout pass per event.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
function clampDeg(a) { return Math.max(GAUGE.min, Math.min(GAUGE.max, a)); }
function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

// ---------------------------------------------------------------- tiles
function makeTile(id) {
  const el = template.content.firstElementChild.cloneNode(true);
  const q = (sel) => el.querySelector(sel);
  const refs = {
    name: q(".t-name"), leg: q(".t-leg"), ex: q(".t-ex"), act: q(".t-act"), state: q(".t-state"),
    angle: q(".t-angle-v"), reps: q(".t-reps"), setno: q(".t-setno"),
    lastrep: q(".t-lastrep"), tempo: q(".t-tempo"), lastset: q(".t-lastset"), setinfo: q(".t-setinfo"),
    session: q(".t-session"), sessinfo: q(".t-sessinfo"),
    shin: q(".g-shin"), knee: q(".g-knee"), peak: q(".g-peak"), target: q(".g-target"),
  };
  // The dial: static parts drawn once per tile.
  q(".g-track").setAttribute("d", arcPath(GAUGE.min, GAUGE.max, GAUGE.r));
  q(".g-neg").setAttribute("d", arcPath(GAUGE.min, 0, GAUGE.r));
  q(".g-pos").setAttribute("d", arcPath(0, GAUGE.max, GAUGE.r));
  const ticks = q(".g-ticks");
  for (const d of [-30, 0, 30, 60]) {
    const [x0, y0] = polar(d, GAUGE.r - 10), [x1, y1] = polar(d, GAUGE.r + 8), [tx, ty] = polar(d, GAUGE.r + 22);
    setLine(svg("line", {}, ticks), x0, y0, x1, y1);
    const t = svg("text", { x: tx.toFixed(1), y: (ty + 5).toFixed(1) }, ticks);
    t.textContent = `${d}°`;
  }
  // Toe line: vertical through the toes; the knee passing it is "knee over toes". With the
  // toes ~0.45 shin lengths ahead of the ankle that happens at a tibial angle of ~27 degrees.
  const shin = GAUGE.r - 22, toeX = GAUGE.cx + 0.45 * shin;
  setLine(q(".g-toe"), toeX, GAUGE.cy, toeX, GAUGE.cy - GAUGE.r + 6);
  setLine(q(".g-foot"), GAUGE.cx - 14, GAUGE.cy + 4, toeX + 8, GAUGE.cy + 4);
  const ankle = q(".g-ankle"); ankle.setAttribute("cx", GAUGE.cx); ankle.setAttribute("cy", GAUGE.cy);
  el.dataset.id = id;
  el.addEventListener("click", () => openHistory(tiles.get(id).data.history_key || id));
  el.addEventListener("keydown", (e) => { if (e.key === "Enter") el.click(); });
  return { el, refs, data: null, shownReps: null, peak: null, target: null };
}

function drawAngle(t, angle) {
  const r = t.refs;
  if (typeof angle !== "number" || !isFinite(angle)) { setText(r.angle, "–"); return; }
  setText(r.angle, angle.toFixed(0));
  const a = clampDeg(angle);
  const [x, y] = polar(a, GAUGE.r - 22);
  setLine(r.shin, GAUGE.cx, GAUGE.cy, x, y);
  r.knee.setAttribute("cx", x.toFixed(1)); r.knee.setAttribute("cy", y.toFixed(1));
  t.el.classList.toggle("back", angle < 0);
}

// The depth target set on the device: a green tick the knee should reach.
function drawTarget(t, target) {
  target = typeof target === "number" ? target : null;
  if (target === t.target) return;
  t.target = target;
  t.refs.target.setAttribute("visibility", target === null ? "hidden" : "visible");
  if (target === null) return;
  const [x0, y0] = polar(clampDeg(target), GAUGE.r - 14), [x1, y1] = polar(clampDeg(target), GAUGE.r + 14);
  setLine(t.refs.target, x0, y0, x1, y1);
}

function drawPeak(t, peak) {
  if (peak === t.peak) return;
  t.peak = peak;
  t.refs.peak.setAttribute("visibility", typeof peak === "number" ? "visible" : "hidden");
  if (typeof peak !== "number") return;
  const [x0, y0] = polar(clampDeg(peak), GAUGE.r - 9), [x1, y1] = polar(clampDeg(peak), GAUGE.r + 9);
  setLine(t.refs.peak, x0, y0, x1, y1);
}

function drawReps(t, reps) {
  if (reps === t.shownReps) return;
  const grew = t.shownReps !== null && reps > t.shownReps;
  t.shownReps = reps;
  setText(t.refs.reps, String(reps));
  if (grew) {  // a flash per new rep, visible from across the room (no forced reflow)
    t.refs.reps.animate([{ color: "#ffb020", transform: "scale(1.12)" }, { color: "#eef3f8", transform: "none" }],
      { duration: 500, easing: "ease-out" });
  }
}

function drawActivity(t, activity, exercise) {
  setText(t.refs.ex, EXERCISE[exercise] || (exercise ? String(exercise) : "no exercise yet"));
  setText(t.refs.act, ACTIVITY[activity] || "");
  t.el.classList.toggle("in-set", activity === "in_set");
}

function tempoText(rep) {
  const parts = [rep.eccentric_s, rep.pause_s, rep.concentric_s];
  if (parts.every((p) => typeof p === "number")) return `${parts.map((p) => p.toFixed(1)).join("-")} s`;
  if (typeof rep.tut_s === "number") return `${rep.tut_s.toFixed(1)} s under tension`;
  return "";
}

function render(t, d) {
  const r = t.refs;
  t.data = d;
  t.el.dataset.state = d.state;
  t.el.classList.toggle("offline", d.state === "offline");
  setText(r.name, d.athlete || d.id);
  r.name.title = d.athlete ? `${d.athlete} (${d.id})` : d.id;
  setText(r.leg, d.leg === "left" ? "L" : d.leg === "right" ? "R" : "");
  setText(r.state, d.state === "offline" ? "offline" : d.state === "online" ? "online" : "…");
  drawActivity(t, d.activity, d.exercise);
  drawAngle(t, d.angle_deg);
  drawReps(t, d.reps);
  drawTarget(t, d.depth_target_deg);
  setText(r.setno, d.set_no ? `· set ${d.set_no}` : "");
  const rep = d.last_rep;
  if (rep) {
    setText(r.lastrep, `${fmt(rep.peak_angle_deg)}°${rep.partial ? " partial" : ""}`);
    r.lastrep.classList.toggle("partial", !!rep.partial);
    setText(r.tempo, tempoText(rep));
    drawPeak(t, rep.peak_angle_deg);
  }
  const s = d.last_set;
  if (s) {
    setText(r.lastset, repsText(s.reps));
    const bits = [];
    if (typeof s.max_peak_deg === "number") bits.push(`peak ${fmt(s.max_peak_deg)}°`);
    if (s.partial_reps) bits.push(`${s.partial_reps} partial`);
    if (typeof s.duration_s === "number") bits.push(`${fmt(s.duration_s)} s`);
    setText(r.setinfo, bits.join(" · "));
  }
  if (d.session_id || d.session_reps) {
    setText(r.session, repsText(d.session_reps));
    setText(r.sessinfo, `${d.session_sets} set${d.session_sets === 1 ? "" : "s"} done`);
  } else if (d.last_session) {
    setText(r.session, repsText(d.last_session.total_reps));
    setText(r.sessinfo, "last session");
  }
}

function upsert(d) {
  let t = tiles.get(d.id);
  if (!t) {
    t = makeTile(d.id);
    tiles.set(d.id, t);
    grid.appendChild(t.el);
    layout();
  }
  render(t, d);
  dirty.delete(t);  // a pending live angle is older than this tile state
}

// Live angles arrive up to 20 devices x 20 Hz. Drawing each one at once would repaint the
// board hundreds of times a second; instead they are folded into at most one paint per
// LIVE_FRAME_MS (20 fps), which a gauge seen from 3 m does not need to beat.
const LIVE_FRAME_MS = 50;
const dirty = new Map();  // tile -> newest live message not drawn yet
let flushPending = false, lastFlush = 0;

function applyLive(m) {
  const t = tiles.get(m.id);
  if (!t) return;  // a tile event always precedes a device's first live event
  Object.assign(t.data, { angle_deg: m.angle_deg, activity: m.activity, exercise: m.exercise, reps: m.reps,
    session_reps: m.session_reps, depth_target_deg: m.depth_target_deg });
  if (BENCH) {
    if (typeof m.ts === "number") {
      window.__kot.recvLat.push(performance.timeOrigin + performance.now() - m.ts * 1000);
      window.__kot.recvTs.push(m.ts);
    }
    if (dirty.has(t)) window.__kot.superseded++;
  }
  dirty.set(t, m);
  if (flushPending) return;
  flushPending = true;
  const wait = Math.max(0, LIVE_FRAME_MS - (performance.now() - lastFlush));
  setTimeout(() => requestAnimationFrame(flushLive), wait);
}

function flushLive() {
  flushPending = false;
  lastFlush = performance.now();
  for (const [t, m] of dirty) {
    if (!t.el.isConnected) continue;
    drawAngle(t, m.angle_deg);
    drawActivity(t, m.activity, m.exercise);
    drawReps(t, m.reps);
    drawTarget(t, m.depth_target_deg);
    if (t.data.session_id || m.session_reps) setText(t.refs.session, repsText(m.session_reps));
  }
  if (BENCH) {
    const now = performance.timeOrigin + performance.now();
    for (const m of dirty.values()) if (typeof m.ts === "number") window.__kot.lat.push(now - m.ts * 1000);
  }
  dirty.clear();
}

function remove(id) {
  const t = tiles.get(id);
  if (!t) return;
  t.el.remove();
  tiles.delete(id);
  layout();
}

// Pick the column count that gives the biggest tiles of a TV-friendly shape (about 3:2).
function layout() {
  const n = tiles.size;
  document.getElementById("empty").classList.toggle("gone", n > 0);
  document.getElementById("count").textContent = n === 0 ? "no devices yet" : `${n} device${n === 1 ? "" : "s"}`;
  if (!n) return;
  const gap = 12, W = grid.clientWidth - gap, H = grid.clientHeight - gap;
  let best = { score: -1, cols: 1, rows: 1 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = (W - gap * cols) / cols, h = (H - gap * rows) / rows;
    const score = Math.min(w, h * 1.5);
    if (score > best.score) best = { score, cols, rows };
  }
  grid.style.setProperty("--cols", best.cols);
  grid.style.setProperty("--rows", best.rows);
  grid.style.setProperty("--tw", `${((W - gap * best.cols) / best.cols).toFixed(1)}px`);
  grid.style.setProperty("--th", `${((H - gap * best.rows) / best.rows).toFixed(1)}px`);
}
window.addEventListener("resize", layout);

// ---------------------------------------------------------------- connection
function setPill(id, cls, text) {
  const el = document.getElementById(id);
  el.className = `pill ${cls}`;
  el.textContent = text;
}
function setBroker(b) {
  if (b.connected) setPill("broker", "ok", "broker connected");
  else setPill("broker", "bad", "broker lost — reconnecting");
}

function snapshot(s) {
  window.__kot.snapshots++;
  const ids = new Set(s.devices.map((d) => d.id));
  for (const id of [...tiles.keys()]) if (!ids.has(id)) remove(id);
  for (const d of s.devices) upsert(d);
  setBroker(s.broker);
}

function handler(fn) {
  return (e) => {
    window.__kot.events++;
    let data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    try { fn(data); } catch (err) { console.error("kiosk: bad event", err); }
  };
}

let source = null;
function connect() {
  source = new EventSource("/api/events");
  source.addEventListener("open", () => setPill("link", "ok", "live"));
  source.addEventListener("snapshot", handler(snapshot));
  source.addEventListener("tile", handler(upsert));
  source.addEventListener("live", handler(applyLive));
  source.addEventListener("remove", handler((d) => remove(d.id)));
  source.addEventListener("broker", handler(setBroker));
  source.addEventListener("error", () => {
    setPill("link", "bad", "kiosk server lost — retrying");
    // EventSource retries by itself unless it gave up (e.g. a proxy answered with an error).
    if (source.readyState === EventSource.CLOSED) { source.close(); setTimeout(connect, 2000); }
  });
}

function tick() {
  const d = new Date();
  document.getElementById("clock").textContent =
    `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

// ---------------------------------------------------------------- history view
let historyKey = null, historyTimer = null, historyIdle = null;

function openHistory(key) {
  if (location.hash !== `#history=${encodeURIComponent(key)}`) location.hash = `history=${encodeURIComponent(key)}`;
  else showHistory(key);
}
function closeHistory() {
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  hideHistory();
}
function hideHistory() {
  historyKey = null;
  clearInterval(historyTimer); clearTimeout(historyIdle);
  document.getElementById("history").hidden = true;
}
function showHistory(key) {
  historyKey = key;
  document.getElementById("history").hidden = false;
  clearInterval(historyTimer);
  loadHistory();
  historyTimer = setInterval(loadHistory, 2000);
  // The board is the kiosk's resting state: go back to it when nobody is looking.
  clearTimeout(historyIdle);
  historyIdle = setTimeout(closeHistory, 90000);
}
function onHash() {
  const m = /^#history=(.+)$/.exec(location.hash);
  let key = null;
  try { key = m ? decodeURIComponent(m[1]) : null; } catch (err) { key = null; }  // a mangled link
  if (key) showHistory(key); else hideHistory();
}

async function loadHistory() {
  const key = historyKey;
  let h;
  try {
    const res = await fetch(`/api/history?key=${encodeURIComponent(key)}`);
    if (!res.ok) return;
    h = await res.json();
  } catch (err) { return; }
  if (key !== historyKey) return;
  document.querySelector(".h-title").textContent = key;
  const devs = h.devices.map((d) => `${d.id}${d.leg ? ` (${d.leg})` : ""}`).join(", ");
  document.querySelector(".h-sub").textContent =
    `${h.sessions.length} session${h.sessions.length === 1 ? "" : "s"} in the last 12 weeks` + (devs ? ` · ${devs}` : "");
  const trace = h.traces.find((t) => t.points.length) || { points: [] };
  lineChart(document.getElementById("c-trace"),
    [{ points: trace.points, cls: "s0" }], { zero: true, xfmt: (x) => `${+x.toFixed(1)}`,
      empty: "no live angles from this athlete yet" });
  // Weeks start Monday 00:00 UTC (as `kotdevice history`): label them by that UTC date.
  const weekLabel = (ms) => { const d = new Date(ms); return `${d.getUTCDate()}/${d.getUTCMonth() + 1}`; };
  const wk = h.weeks.map((w) => w.week_start * 1000);
  lineChart(document.getElementById("c-max"),
    [{ points: h.weeks.filter((w) => w.max_peak_deg !== null).map((w) => [w.week_start * 1000, w.max_peak_deg]), cls: "s0", dots: true }],
    { xfmt: weekLabel, xticks: wk, xpad: 0.04, empty: "no finished sessions yet" });
  const legs = [...new Set(h.weeks.flatMap((w) => Object.keys(w.knee_to_wall)))].sort();
  lineChart(document.getElementById("c-ktw"),
    legs.map((leg, i) => ({ label: leg, cls: `s${(i % 2) + 1}`, dots: true,
      points: h.weeks.filter((w) => leg in w.knee_to_wall).map((w) => [w.week_start * 1000, w.knee_to_wall[leg]]) })),
    { xfmt: weekLabel, xticks: wk, xpad: 0.04, legend: true, empty: "no knee-to-wall tests yet" });
  barChart(document.getElementById("c-vol"), h.weeks.map((w) => [w.week_start * 1000, w.volume_reps]),
    { xfmt: weekLabel, empty: "no finished sessions yet" });
}

function chartFrame(el, xs, ys, opts) {
  while (el.firstChild) el.firstChild.remove();
  const W = el.clientWidth || 600, H = el.clientHeight || 300;
  el.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const pad = { l: 56, r: 28, t: 12, b: 30 };
  if (!xs.length) {
    svg("text", { x: W / 2, y: H / 2, class: "none" }, el).textContent = opts.empty || "no data";
    return null;
  }
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (opts.zero || opts.bars) { y0 = Math.min(y0, 0); y1 = Math.max(y1, 0); }
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (opts.xpad) { const px = (x1 - x0) * opts.xpad; x0 -= px; x1 += px; }  // keep end dots inside
  const span = (y1 - y0) || 10;
  y1 += span * 0.08;
  if (!opts.bars) y0 -= span * 0.08;
  const sx = opts.band
    ? (i) => pad.l + (i + 0.5) / xs.length * (W - pad.l - pad.r)
    : (x) => pad.l + (x - x0) / (x1 - x0) * (W - pad.l - pad.r);
  const sy = (y) => H - pad.b - (y - y0) / (y1 - y0) * (H - pad.t - pad.b);
  const step = niceStep((y1 - y0) / 4);
  for (let y = Math.ceil(y0 / step) * step; y <= y1; y += step) {
    svg("line", { x1: pad.l, x2: W - pad.r, y1: sy(y), y2: sy(y), class: "grid" }, el);
    svg("text", { x: pad.l - 8, y: sy(y) + 5, "text-anchor": "end" }, el).textContent = `${+y.toFixed(1)}`;
  }
  if (opts.zero && y0 < 0 && y1 > 0) svg("line", { x1: pad.l, x2: W - pad.r, y1: sy(0), y2: sy(0), class: "zero" }, el);
  svg("line", { x1: pad.l, x2: pad.l, y1: pad.t, y2: H - pad.b, class: "axis" }, el);
  svg("line", { x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b, class: "axis" }, el);
  let ticks;  // [position argument for sx, label value]
  if (opts.band) ticks = xs.map((x, i) => [i, x]);
  else if (opts.xticks && opts.xticks.length) ticks = opts.xticks.map((x) => [x, x]);
  else {
    const st = niceStep((x1 - x0) / 8);
    ticks = [];
    for (let x = Math.ceil(x0 / st) * st; x <= x1; x += st) ticks.push([x, x]);
  }
  const every = Math.max(1, Math.ceil(ticks.length / 10));
  ticks.forEach(([pos, x], i) => {
    if (i % every) return;
    svg("text", { x: sx(pos), y: H - 8, "text-anchor": "middle" }, el).textContent = (opts.xfmt || String)(x);
  });
  return { sx, sy, W, H, pad };
}

function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

function lineChart(el, series, opts) {
  const xs = series.flatMap((s) => s.points.map((p) => p[0])), ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const f = chartFrame(el, xs, ys, opts);
  if (!f) return;
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${f.sx(p[0]).toFixed(1)} ${f.sy(p[1]).toFixed(1)}`).join("");
    svg("path", { d, class: `line ${s.cls}` }, el);
    if (s.dots) for (const p of s.points) svg("circle", { cx: f.sx(p[0]), cy: f.sy(p[1]), r: 5, class: s.cls }, el);
    if (opts.legend && s.label) {
      const y = f.pad.t + 18 + i * 22;
      svg("rect", { x: f.pad.l + 16, y: y - 12, width: 14, height: 14, class: s.cls }, el);
      svg("text", { x: f.pad.l + 36, y, class: "lbl" }, el).textContent = s.label;
    }
  });
}

function barChart(el, points, opts) {
  const f = chartFrame(el, points.map((p) => p[0]), points.map((p) => p[1]), { ...opts, bars: true, band: true });
  if (!f) return;
  const slot = (f.W - f.pad.l - f.pad.r) / Math.max(points.length, 1);
  const bw = Math.max(6, Math.min(60, slot * 0.6));
  points.forEach(([, y], i) => {
    const top = f.sy(Math.max(y, 0)), base = f.sy(0);
    svg("rect", { x: f.sx(i) - bw / 2, y: top, width: bw, height: Math.max(1, base - top), class: "bar s0" }, el);
  });
}

// ---------------------------------------------------------------- start
document.getElementById("h-close").addEventListener("click", (e) => { e.stopPropagation(); closeHistory(); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeHistory(); });
window.addEventListener("hashchange", onHash);
tick(); setInterval(tick, 5000);
connect();
onHash();
