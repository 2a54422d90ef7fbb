// Drift: per model version, the drift score over time, baseline vs live histograms, and alerts.
import { api } from "../api.js";
import { histogramOverlay, INT8_BIN_LABELS, lineChart } from "../charts.js";
import { clear, fmtNum, fmtTime, h, pill, table } from "../dom.js";

const C = { baseline: "#6b7280", live: "#d9480f", score: "#2458c6" };
const METRIC_UNIT = { psi: "PSI (unitless)", js: "Jensen–Shannon distance (0–1)", ks: "KS statistic (0–1)" };

function alertsTable(alerts) {
  return table([
    { label: "since (UTC)", get: (a) => fmtTime(a.since ?? a.ts) },
    { label: "subject", get: (a) => a.subject ?? a.key ?? "—" },
    { label: "level", get: (a) => pill(a.level ?? a.severity ?? (a.active ? "active" : "cleared"), a.active === false ? "ok" : "bad") },
    { label: "score", cls: "num", get: (a) => fmtNum(a.score) },
    { label: "detail", get: (a) => a.detail ?? a.message ?? "" },
  ], alerts, { testid: "drift-alerts", empty: "no alerts" });
}

export async function mount(root, ctx) {
  const picker = h("div", { class: "row filters" });
  const summary = h("div", { class: "stats", "data-testid": "drift-summary" });
  const charts = h("div", { class: "grid charts" });
  const alertsBox = h("div", { class: "card", style: "margin-top:1rem" });
  root.append(h("h1", {}, "Drift"), picker, summary, charts, alertsBox);
  let versions = [];
  let chosen = ctx.args[0] || "";
  let metric = "psi";

  async function refresh() {
    const list = await api.driftModels();
    versions = Array.isArray(list) ? list : list.items || [];
    if (!chosen && versions.length) chosen = `${versions[0].name}@${versions[0].version}`;
    clear(picker).append(
      h("label", {}, "model version", h("select", { "data-testid": "drift-model", onchange: (e) => { chosen = e.target.value; refresh().catch(ctx.showError); } },
        versions.map((v) => h("option", { value: `${v.name}@${v.version}`, selected: `${v.name}@${v.version}` === chosen },
          `${v.name} ${v.version} (${v.devices ?? 0} devices)`)))),
      h("label", {}, "score", h("select", { "data-testid": "drift-metric", onchange: (e) => { metric = e.target.value; refresh().catch(ctx.showError); } },
        ["psi", "js", "ks"].map((m) => h("option", { value: m, selected: m === metric }, m)))),
    );
    if (!chosen) {
      clear(charts).append(h("p", { class: "muted" }, "No model version reports telemetry yet."));
      clear(summary);
      clear(alertsBox).append(h("h2", {}, "Alerts"), alertsTable([]));
      return;
    }
    const [name, version] = chosen.split("@");
    const d = await api.drift(name, version, { metric });
    const last = d.series && d.series.length ? d.series[d.series.length - 1][1] : null;
    clear(summary).append(
      h("div", { class: "stat" }, h("b", { "data-testid": "drift-current" }, fmtNum(d.current ?? last)), h("span", {}, `${metric} now (live window vs baseline)`)),
      h("div", { class: "stat" }, h("b", {}, d.devices ?? "—"), h("span", {}, "devices reporting")),
      h("div", { class: "stat" }, h("b", {}, d.live && d.live.n !== undefined ? d.live.n : "—"), h("span", {}, "inferences in window")),
    );
    const thresholds = metric === "psi"
      ? [{ value: 0.1, label: "0.1 moderate", color: "#a86200" }, { value: 0.25, label: "0.25 significant", color: "#b3261e" }]
      : [];
    const b = d.baseline || {};
    const l = d.live || {};
    const classLabels = (b.cls || l.cls || []).map((_, i) => String(i));
    clear(charts).append(
      h("div", { class: "card" }, lineChart([{ label: `${metric} of ${d.signal ?? "output"} vs baseline`, color: C.score, points: d.series || [] }],
        { title: `Drift score over time: ${name} ${version}`, unit: METRIC_UNIT[metric], thresholds, testid: "chart-drift-score" })),
      h("div", { class: "card" }, histogramOverlay([
        { label: "baseline (compiler, validation data)", color: C.baseline, counts: b.cls || [] },
        { label: "live (fleet, window)", color: C.live, counts: l.cls || [] },
      ], { title: "Predicted class: baseline vs live", xLabel: "class index (arg-max)", binLabels: classLabels, testid: "chart-drift-classes" })),
      h("div", { class: "card" }, histogramOverlay([
        { label: "baseline", color: C.baseline, counts: b.conf || [] },
        { label: "live", color: C.live, counts: l.conf || [] },
      ], { title: "Confidence: baseline vs live", xLabel: "top output, int8 bin lower edge (q)", binLabels: INT8_BIN_LABELS, testid: "chart-drift-confidence" })),
      h("div", { class: "card" }, histogramOverlay([
        { label: "baseline", color: C.baseline, counts: (b.input || [])[0] || [] },
        { label: "live", color: C.live, counts: (l.input || [])[0] || [] },
      ], { title: "Input values (feature group 0): baseline vs live", xLabel: "input, int8 bin lower edge (q)", binLabels: INT8_BIN_LABELS, testid: "chart-drift-input" })),
    );
    clear(alertsBox).append(h("h2", {}, "Alerts"), alertsTable(d.alerts || []));
  }
  await refresh();
  return { refresh, pollMs: 5000, wants: (type) => type === "telemetry" || type === "drift" || type === "alert", dispose() {} };
}
