// The create-rollout form, and its translation into the server's rollout spec (docs/rollouts.md).
import { h } from "../dom.js";

const DEFAULT_STAGES = "canary: 1\nten: 10%\nhalf: 50%\nall: 100%";

/** One stage a line: `name: dev-a, dev-b` (named devices), `name: 25%` (percent) or `name: 5` (count). */
export function parseStages(text) {
  const stages = [];
  text.split("\n").map((l) => l.trim()).filter(Boolean).forEach((line, i) => {
    const m = line.match(/^([A-Za-z0-9][A-Za-z0-9._:-]*)\s*:\s*(.+)$/);
    if (!m) throw new Error(`stage line ${i + 1}: write "name: 10%", "name: 5" or "name: device-a, device-b"`);
    const [, name, what] = m;
    if (/^\d+(\.\d+)?\s*%$/.test(what)) stages.push({ name, percent: Number.parseFloat(what) });
    else if (/^\d+$/.test(what)) stages.push({ name, count: Number.parseInt(what, 10) });
    else stages.push({ name, devices: what.split(/[\s,]+/).filter(Boolean) });
  });
  if (!stages.length) throw new Error("give at least one stage");
  return stages;
}

export function parseSelector(text) {
  const sel = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new Error(`selector: write tag=value pairs, got "${part}"`);
    sel[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  if (!Object.keys(sel).length) throw new Error("selector: name at least one tag=value");
  return sel;
}

const num = (v) => (v === "" || v === undefined || v === null ? null : Number(v));

export function buildSpec(f) {
  const target = f.target_kind === "group" ? { group: f.group } : { selector: parseSelector(f.selector) };
  const error = { max_failed: num(f.max_failed), max_failed_share: num(f.max_failed_share) };
  const stages = parseStages(f.stages).map((s) => ({
    ...s,
    success_share: Number(f.success_share),
    error,
    soak_s: Number(f.soak_s),
    manual_approval: Boolean(f.manual_approval),
  }));
  const bounds = [];
  for (const gate of ["drift", "confidence_drop", "error_rate", "latency_p95"]) {
    if (f[`bound_${gate}`] !== "") bounds.push({ gate, bound: Number(f[`bound_${gate}`]), action: f.gate_action });
  }
  const [model, version] = f.model.split("@");
  return {
    name: f.name,
    model,
    version,
    target,
    stages,
    health: { bounds, metric: f.metric, min_samples: Number(f.min_samples), window_s: Number(f.window_s) },
  };
}

function field(label, input) {
  return h("label", {}, label, input);
}

export function createForm(models, groups, onSubmit, onError) {
  const modelList = Array.isArray(models) ? models : models.items || [];
  const groupList = Array.isArray(groups) ? groups : groups.items || [];
  const inp = (name, attrs = {}) => h("input", { name, "data-testid": `rf-${name}`, ...attrs });
  const form = h("form", { class: "card", "data-testid": "rollout-form" },
    h("h2", {}, "New rollout"),
    h("div", { class: "row" },
      field("name", inp("name", { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", value: `rollout-${Date.now() % 100000}` })),
      field("model version", h("select", { name: "model", required: true, "data-testid": "rf-model" },
        modelList.map((m) => h("option", { value: `${m.name}@${m.version}` }, `${m.name} ${m.version}`)))),
      field("target", h("select", { name: "target_kind", "data-testid": "rf-target_kind" },
        h("option", { value: "group" }, "group"), h("option", { value: "selector" }, "tag selector"))),
      field("group", h("select", { name: "group", "data-testid": "rf-group" }, groupList.map((g) => h("option", { value: g.name }, g.name)))),
      field("selector (tag=value, …)", inp("selector", { placeholder: "site=lab" })),
    ),
    h("div", { class: "row", style: "margin-top:.6rem;align-items:flex-start" },
      field("stages (one a line)", h("textarea", { name: "stages", rows: 4, cols: 28, "data-testid": "rf-stages" }, DEFAULT_STAGES)),
      h("div", { class: "row" },
        field("success share", inp("success_share", { type: "number", min: 0, max: 1, step: "0.01", value: "1" })),
        field("max failed (devices)", inp("max_failed", { type: "number", min: 0, step: 1, value: "" })),
        field("max failed share", inp("max_failed_share", { type: "number", min: 0, max: 0.99, step: "0.01", value: "0.05" })),
        field("soak (s)", inp("soak_s", { type: "number", min: 0, step: "any", value: "0" })),
        field("manual approval", inp("manual_approval", { type: "checkbox" })),
      ),
    ),
    h("details", { style: "margin-top:.6rem" }, h("summary", { "data-testid": "rf-health" }, "ML health gate (canary vs control)"),
      h("div", { class: "row", style: "margin-top:.5rem" },
        field("drift metric", h("select", { name: "metric", "data-testid": "rf-metric" }, ["psi", "js", "ks"].map((m) => h("option", { value: m }, m)))),
        field("max drift increase", inp("bound_drift", { type: "number", min: 0, step: "any", value: "0.25" })),
        field("max confidence drop", inp("bound_confidence_drop", { type: "number", min: 0, max: 1, step: "any", value: "0.1" })),
        field("max error-rate increase", inp("bound_error_rate", { type: "number", min: 0, max: 1, step: "any", value: "0.05" })),
        field("max p95 latency ratio", inp("bound_latency_p95", { type: "number", min: 1, step: "any", value: "1.5" })),
        field("when a gate fails", h("select", { name: "gate_action", "data-testid": "rf-gate_action" },
          h("option", { value: "rollback" }, "roll back"), h("option", { value: "hold" }, "hold"))),
        field("min inferences per cohort", inp("min_samples", { type: "number", min: 1, step: 1, value: "100" })),
        field("window (s)", inp("window_s", { type: "number", min: 1, step: "any", value: "3600" })),
      )),
    h("div", { class: "row end", style: "margin-top:.6rem" }, h("button", { type: "submit", class: "primary", "data-testid": "rf-submit" }, "Create rollout")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    data.manual_approval = form.elements.manual_approval.checked;
    try {
      await onSubmit(data);
    } catch (err) {
      onError(err);
    }
  });
  return form;
}
