// Hand-written SVG charts: time series and histogram overlays, with labelled axes and units.
import { h, s } from "./dom.js";

// Drawing size in SVG units: narrower on phones, so text stays readable once the SVG is scaled to fit.
let W = 640;
let H = 260;

function size() {
  const phone = typeof window !== "undefined" && window.innerWidth < 600;
  W = phone ? 400 : 640;
  H = phone ? 280 : 260;
}
const M = { l: 62, r: 16, t: 30, b: 50 };

export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) {
    const pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.1 : 1;
    lo = lo >= 0 && lo - pad < 0 ? 0 : lo - pad; // a flat line at 0 keeps a zero-based axis
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => raw <= st) || 10 * mag;
  const ticks = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function fmtTick(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  if (a !== 0 && a < 0.01) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

function fmtClock(t, span = 60) {
  const d = new Date(t * 1000);
  return d.toISOString().slice(11, span < 10 ? 21 : 19);
}

function frame(title, xLabel, yLabel, testid) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title, "data-testid": testid });
  svg.append(s("text", { x: M.l, y: 16, class: "title" }, title));
  svg.append(s("text", { x: M.l + (W - M.l - M.r) / 2, y: H - 6, "text-anchor": "middle", "data-axis": "x" }, xLabel));
  svg.append(s("text", {
    x: 0, y: 0, transform: `translate(14 ${M.t + (H - M.t - M.b) / 2}) rotate(-90)`, "text-anchor": "middle", "data-axis": "y",
  }, yLabel));
  return svg;
}

function yAxis(svg, ticks, y) {
  for (const t of ticks) {
    const yy = y(t);
    svg.append(s("line", { x1: M.l, x2: W - M.r, y1: yy, y2: yy, class: "gridline" }));
    svg.append(s("text", { x: M.l - 6, y: yy + 4, "text-anchor": "end" }, fmtTick(t)));
  }
  svg.append(s("line", { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, class: "axis" }));
  svg.append(s("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: "axis" }));
}

function legend(series) {
  return h("div", { class: "legend" }, series.map((se) => h("span", {}, h("i", { style: `background:${se.color}` }), se.label)));
}

/**
 * Time series: series = [{label, color, points: [[unix_seconds, value], ...]}].
 * opts: {title, unit (y axis, e.g. "PSI" or "µs"), yMin, xMin/xMax (unix s), thresholds: [{value, label, color}], testid}
 */
export function lineChart(series, opts) {
  size();
  const svg = frame(opts.title, "time (UTC)", opts.unit, opts.testid);
  const pts = series.flatMap((se) => se.points);
  if (!pts.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data yet"));
    return h("div", {}, svg);
  }
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]).concat((opts.thresholds || []).map((t) => t.value));
  let x0 = opts.xMin ?? Math.min(...xs);
  let x1 = opts.xMax ?? Math.max(...xs);
  if (x1 === x0) { x0 -= 30; x1 += 30; }
  const yt = niceTicks(opts.yMin ?? Math.min(0, ...ys), Math.max(...ys));
  const y0 = yt[0];
  const y1 = yt[yt.length - 1];
  const x = (v) => M.l + ((v - x0) / (x1 - x0)) * (W - M.l - M.r);
  const y = (v) => H - M.b - ((v - y0) / (y1 - y0)) * (H - M.t - M.b);
  yAxis(svg, yt, y);
  const nx = W < 600 ? 2 : 4; // fewer time labels on a phone, so they do not overlap
  for (let i = 0; i <= nx; i++) {
    const t = x0 + ((x1 - x0) * i) / nx;
    svg.append(s("text", { x: x(t), y: H - M.b + 16, "text-anchor": i === 0 ? "start" : i === nx ? "end" : "middle" }, fmtClock(t, x1 - x0)));
  }
  for (const th of opts.thresholds || []) {
    svg.append(s("line", { x1: M.l, x2: W - M.r, y1: y(th.value), y2: y(th.value), stroke: th.color, "stroke-dasharray": "5 4" }));
    svg.append(s("text", { x: W - M.r - 4, y: y(th.value) + 14, "text-anchor": "end" }, th.label));
  }
  for (const se of series) {
    if (!se.points.length) continue;
    const d = se.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    svg.append(s("path", { d, fill: "none", stroke: se.color, "stroke-width": 2 }));
    for (const p of se.points) {
      svg.append(s("circle", { cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2.5, fill: se.color },
        s("title", {}, `${se.label} ${fmtClock(p[0])}: ${fmtTick(p[1])} ${opts.unit}`)));
    }
  }
  return h("div", {}, svg, legend(series));
}

/**
 * Histogram overlay of count vectors as shares: series = [{label, color, counts: [...]}].
 * opts: {title, xLabel, binLabels (optional), testid}
 */
export function histogramOverlay(series, opts) {
  size();
  const svg = frame(opts.title, opts.xLabel, "share of samples (%)", opts.testid);
  const n = Math.max(0, ...series.map((se) => se.counts.length));
  if (!n) {
    svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data yet"));
    return h("div", {}, svg);
  }
  const shares = series.map((se) => {
    const tot = se.counts.reduce((a, b) => a + b, 0);
    return se.counts.map((c) => (tot ? (100 * c) / tot : 0));
  });
  const yt = niceTicks(0, Math.max(1, ...shares.flat()));
  const y1 = yt[yt.length - 1];
  const y = (v) => H - M.b - (v / y1) * (H - M.t - M.b);
  yAxis(svg, yt, y);
  const bw = (W - M.l - M.r) / n;
  const inner = (bw * 0.8) / series.length;
  for (let i = 0; i < n; i++) {
    series.forEach((se, k) => {
      const v = shares[k][i] || 0;
      const xx = M.l + i * bw + bw * 0.1 + k * inner;
      svg.append(s("rect", { x: xx.toFixed(1), y: y(v).toFixed(1), width: Math.max(1, inner - 1).toFixed(1),
        height: Math.max(0, H - M.b - y(v)).toFixed(1), fill: se.color, "fill-opacity": 0.85 },
      s("title", {}, `${se.label} bin ${opts.binLabels ? opts.binLabels[i] : i}: ${v.toFixed(1)} %`)));
    });
    const fit = W < 600 ? 8 : 16; // bin labels that fit side by side
    const every = n > fit ? Math.ceil(n / fit) : 1;
    if (i % every === 0) {
      svg.append(s("text", { x: M.l + i * bw + bw / 2, y: H - M.b + 14, "text-anchor": "middle" },
        opts.binLabels ? opts.binLabels[i] : String(i)));
    }
  }
  return h("div", {}, svg, legend(series));
}

/** Bin edges of the int8 drift bins (tinyfleet/drift.py): bin b covers q in [-128 + 16 b, -113 + 16 b]. */
export const INT8_BIN_LABELS = Array.from({ length: 16 }, (_, b) => String(-128 + 16 * b));
