// Device: identity, model slots, the history of its OTA events, and telemetry charts.
import { api } from "../api.js";
import { histogramOverlay, INT8_BIN_LABELS, lineChart } from "../charts.js";
import { clear, fmtTime, h, pill, table } from "../dom.js";

const C = { p50: "#2458c6", p95: "#d9480f", rate: "#1d7a3a", err: "#b3261e", conf: "#6b4fbf" };

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

function slotModel(s) {
  return s.model ? `${s.model.name} ${s.model.version}` : "—";
}

function telemetryCharts(rows) {
  const pts = (f) => rows.map((r) => [r.ts, f(r)]);
  const conf = new Array(16).fill(0);
  for (const r of rows) (r.conf || []).forEach((c, i) => { conf[i] += c; });
  return [
    h("div", { class: "card" }, lineChart([
      { label: "latency p50", color: C.p50, points: pts((r) => r.lat_p50_us) },
      { label: "latency p95", color: C.p95, points: pts((r) => r.lat_p95_us) },
    ], { title: "Inference latency", unit: "latency (µs)", testid: "chart-latency" })),
    h("div", { class: "card" }, lineChart([
      { label: "inferences per second", color: C.rate, points: pts((r) => (r.period_s ? r.n / r.period_s : 0)) },
      { label: "errors per second", color: C.err, points: pts((r) => (r.period_s ? (r.err || 0) / r.period_s : 0)) },
    ], { title: "Throughput", unit: "rate (1/s)", testid: "chart-rate" })),
    h("div", { class: "card" }, histogramOverlay([{ label: "top-class output (all periods shown)", color: C.conf, counts: conf }],
      { title: "Confidence histogram", xLabel: "top output, int8 bin lower edge (q)", binLabels: INT8_BIN_LABELS, testid: "chart-confidence" })),
  ];
}

export async function mount(root, ctx) {
  const id = ctx.args[0];
  const head = h("div");
  const body = h("div", { class: "grid" });
  const charts = h("div", { class: "grid charts", style: "margin-top:1rem" });
  const events = h("div", { class: "card", style: "margin-top:1rem" });
  root.append(h("p", {}, h("a", { href: "#/fleet" }, "← fleet")), head, body, charts, events);
  const failedEvents = new Set((await api.states()).event_failed); // the scheduler's own set

  // messages of this device the server refused (malformed, oversized, spoofed), with the last field
  function droppedText(x) {
    if (!x) return "none";
    const where = x.field ? `, field ${x.field}` : "";
    return `${x.count} (last: ${x.reason} ${x.channel}${where}, ${fmtTime(x.at)} UTC)`;
  }

  async function refresh() {
    const [d, ev, tm] = await Promise.all([api.device(id), api.deviceEvents(id), api.deviceTelemetry(id)]);
    clear(head).append(h("h1", { "data-testid": "device-id" }, d.id, " ", pill(d.online ? "online" : "offline")));
    clear(body).append(
      h("div", { class: "card", "data-testid": "device-identity" }, h("h2", {}, "Identity"), kv([
        ["board", d.board], ["kind", d.kind], ["firmware", d.firmware || "—"],
        ["model", d.model ? `${d.model.name} ${d.model.version}` : "none"],
        ["update state", pill(d.update || "idle")], ["deployment", d.deployment_id || "—"], ["rollout", d.rollout_id ? h("a", { href: `#/rollouts/${d.rollout_id}` }, `#${d.rollout_id}`) : "—"],
        ["tags", Object.entries(d.tags || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "—"],
        ["runtimes", (d.runtimes || []).join(", ") || "—"],
        ["last seen (UTC)", fmtTime(d.last_seen)], ["enrolled (UTC)", fmtTime(d.enrolled_at)],
        ["messages dropped", droppedText(d.dropped)],
      ])),
      h("div", { class: "card", "data-testid": "device-slots" }, h("h2", {}, "Model slots"),
        table([
          { label: "slot", get: (s) => s.slot.toUpperCase() },
          { label: "state", get: (s) => pill(s.state) },
          { label: "model", get: slotModel },
        ], d.slots || [], { empty: "no slots reported" })),
    );
    const rows = Array.isArray(tm) ? tm : tm.items || tm.points || [];
    clear(charts).append(...telemetryCharts(rows));
    const evs = Array.isArray(ev) ? ev : ev.items || [];
    clear(events).append(h("h2", {}, "Event history"), table([
      { label: "time (UTC)", get: (e) => fmtTime(e.ts) },
      { label: "event", get: (e) => pill(e.type, e.type === "confirmed" ? "ok" : failedEvents.has(e.type) ? "bad" : "") },
      { label: "deployment", cls: "hide-phone", get: (e) => e.deployment_id },
      { label: "progress", cls: "num", get: (e) => (e.progress === null || e.progress === undefined ? "" : `${Math.round(100 * e.progress)} %`) },
      { label: "detail", get: (e) => e.detail || "" },
    ], evs, { testid: "device-events", empty: "no events yet" }));
  }
  await refresh();
  return {
    refresh,
    pollMs: 5000,
    wants: (type, data) => type !== "device" || !data || data.id === id,
    dispose() {},
  };
}
