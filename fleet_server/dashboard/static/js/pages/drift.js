// Drift: per model version, the drift score over time, baseline vs live histograms, and alerts.
import { api } from "../api.js";
import { histogramOverlay, INT8_BIN_LABELS, lineChart } from "../charts.js";
import { clear, fmtNum, fmtPct, h, pill, table } from "../dom.js";

const C = { baseline: "#6b7280", live: "#d9480f", score: "#2458c6" };
const METRIC_UNIT = { psi: "PSI (unitless)", js: "Jensen–Shannon distance (0–1)", ks: "KS statistic (0–1)" };

function stat(label, value, testid) {
  return h("div", { class: "stat" }, h("b", { "data-testid": testid }, value), h("span", {}, label));
}

export async function mount(root, ctx) {
  const picker = h("div", { class: "row filters" });
  const summary = h("div", { class: "stats", "data-testid": "drift-summary" });
  const charts = h("div", { class: "grid charts" });
  const alertsBox = h("div", { class: "card", style: "margin-top:1rem" });
  root.append(h("h1", {}, "Drift"), picker, summary, charts, alertsBox);
  let chosen = ctx.args[0] || "";
  let metric = "psi";

  async function refresh() {
    const versions = await api.driftReport({ metric });
    if (!chosen && versions.length) chosen = versions[0].model;
    clear(picker).append(
      h("label", {}, "model version", h("select", { "data-testid": "drift-model", onchange: (e) => { chosen = e.target.value; refresh().catch(ctx.showError); } },
        versions.map((v) => h("option", { value: v.model, selected: v.model === chosen }, `${v.name} ${v.version} (${v.devices} devices)`)))),
      h("label", {}, "score", h("select", { "data-testid": "drift-metric", onchange: (e) => { metric = e.target.value; refresh().catch(ctx.showError); } },
        ["psi", "js", "ks"].map((m) => h("option", { value: m, selected: m === metric }, m)))),
    );
    if (!chosen) {
      clear(summary);
      clear(charts).append(h("p", { class: "muted" }, "No device runs a registered model version yet."));
      clear(alertsBox);
      return;
    }
    const [name, version] = chosen.split("@");
    const [reports, d] = await Promise.all([api.driftReport({ name, version, metric }), api.driftSeries(name, version, { metric })]);
    const r = reports[0];
    clear(summary).append(
      stat(`${metric} of outputs now (window vs baseline)`, fmtNum(r.output), "drift-current"),
      stat(`${metric} of confidence`, fmtNum(r.confidence), "drift-confidence"),
      stat(`${metric} of inputs (worst group)`, fmtNum(r.input), "drift-input"),
      stat("devices reporting", `${r.reporting} / ${r.devices}`, "drift-reporting"),
      stat("inferences in window", r.n, "drift-n"),
      stat("mean confidence", fmtNum(r.mean_confidence), "drift-mean-conf"),
      stat("error rate", fmtPct(r.error_rate), "drift-error-rate"),
    );
    const thresholds = metric === "psi"
      ? [{ value: 0.1, label: "0.1 moderate", color: "#a86200" }, { value: 0.25, label: "0.25 significant", color: "#b3261e" }]
      : [];
    const b = d.baseline;
    const l = d.live;
    clear(charts).append(
      h("div", { class: "card" }, lineChart([{ label: `${metric} of ${d.signal} vs baseline, per ${Math.round((d.end - d.start) / d.buckets)} s`, color: C.score, points: d.series }],
        { title: `Drift over time: ${name} ${version}`, unit: METRIC_UNIT[metric], thresholds, xMin: d.start, xMax: d.end, testid: "chart-drift-score" })),
      h("div", { class: "card" }, histogramOverlay([
        { label: `baseline (${b.n} validation samples)`, color: C.baseline, counts: b.cls },
        { label: `live (${l.n} inferences)`, color: C.live, counts: l.cls },
      ], { title: "Predicted class: baseline vs live", xLabel: "class index (arg-max)", binLabels: b.cls.map((_, i) => String(i)), testid: "chart-drift-classes" })),
      h("div", { class: "card" }, histogramOverlay([
        { label: "baseline", color: C.baseline, counts: b.conf },
        { label: "live", color: C.live, counts: l.conf },
      ], { title: "Confidence: baseline vs live", xLabel: "top output, int8 bin lower edge (q)", binLabels: INT8_BIN_LABELS, testid: "chart-drift-confidence" })),
      h("div", { class: "card" }, histogramOverlay([
        { label: "baseline", color: C.baseline, counts: b.input[0] || [] },
        { label: "live", color: C.live, counts: l.input[0] || [] },
      ], { title: "Inputs (group 0): baseline vs live", xLabel: "input, int8 bin lower edge (q)", binLabels: INT8_BIN_LABELS, testid: "chart-drift-input" })),
    );
    clear(alertsBox).append(
      h("h2", {}, "Alerts ", pill(r.alert ? "alert" : "no alert", r.alert ? "bad" : "ok")),
      h("p", { class: "muted" }, "An alert needs evidence: a two-sample G-test against the baseline on recent telemetry, significant after the per-look alpha and Benjamini–Hochberg across devices, and an excess PSI above the bound (docs/drift.md)."),
      r.alert_reason ? h("p", { "data-testid": "drift-model-reason" }, `fleet: ${r.alert_reason}`) : "",
      table([
        { label: "device", get: (x) => h("a", { href: `#/devices/${encodeURIComponent(x.device_id)}` }, x.device_id) },
        { label: "alert", get: (x) => pill(x.alert ? "alert" : "ok", x.alert ? "bad" : "ok") },
        { label: `${metric} outputs`, cls: "num", get: (x) => fmtNum(x.output) },
        { label: `${metric} confidence`, cls: "num", get: (x) => fmtNum(x.confidence) },
        { label: `${metric} inputs`, cls: "num hide-phone", get: (x) => fmtNum(x.input) },
        { label: "inferences", cls: "num", get: (x) => x.n },
        { label: "why", cls: "hide-phone", get: (x) => (x.alert_evidence ? `${x.alert_evidence.signal}: G ${fmtNum(x.alert_evidence.statistic)} (${x.alert_evidence.df} df), p_adj ${x.alert_evidence.p_adjusted.toExponential(2)}, excess PSI ${fmtNum(x.alert_evidence.psi_excess)}, n ${x.alert_evidence.n}` : "") },
      ], r.per_device, { testid: "drift-devices", empty: "no device reports telemetry for this version", rowAttrs: (x) => ({ "data-device": x.device_id, title: x.alert_reason || "" }) }),
    );
  }
  await refresh();
  return { refresh, pollMs: 5000, wants: (type) => type === "drift" || type === "model", dispose() {} };
}
