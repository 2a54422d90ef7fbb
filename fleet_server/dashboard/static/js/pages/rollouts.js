// Rollouts: the list, the create form, and one rollout's stages, canary-vs-control gate metrics and actions.
import { api } from "../api.js";
import { lineChart } from "../charts.js";
import { confirmAction } from "../confirm.js";
import { clear, fmtNum, fmtPct, fmtTime, h, pill, table, toast } from "../dom.js";
import { buildSpec, createForm } from "./rollout_form.js";

// Which actions a rollout allows comes from the server (its transition table), never guessed here.
const ACTIONS = [
  { name: "pause", label: "Pause", text: "Stop assigning devices and deciding gates until resumed." },
  { name: "resume", label: "Resume", text: "Continue the rollout; its gates are evaluated again." },
  { name: "promote", label: "Promote", text: "Skip the remaining wait (or approve) and start the next stage now." },
  { name: "abort", label: "Abort", danger: true,
    text: "Stop the rollout and send every device it touched back to its previous model version." },
];
const TERMINAL = ["succeeded", "aborted", "rolled_back"];

export function stageCounts(stage) {
  const total = stage.target ?? stage.size ?? stage.total ?? 0;
  return {
    total,
    assigned: stage.assigned ?? 0,
    confirmed: stage.confirmed ?? stage.succeeded ?? 0,
    failed: stage.failed ?? 0,
  };
}

function progressBar(c, testid) {
  const pct = (x) => (c.total ? (100 * x) / c.total : 0);
  const running = Math.max(0, c.assigned - c.confirmed - c.failed);
  return h("div", { class: "progress", "data-testid": testid, title: `${c.confirmed} confirmed, ${c.failed} failed, ${running} in progress of ${c.total}` },
    h("i", { class: "ok", style: `width:${pct(c.confirmed)}%` }),
    h("i", { class: "bad", style: `width:${pct(c.failed)}%` }),
    h("i", { class: "run", style: `width:${pct(running)}%` }));
}

function modelOf(r) {
  if (r.model && typeof r.model === "object") return `${r.model.name} ${r.model.version}`;
  return r.model_version ? `${r.model_name || ""} ${r.model_version}`.trim() : String(r.model ?? "—");
}

async function listView(root, ctx) {
  const formBox = h("div");
  const listBox = h("div", { class: "card" });
  root.append(h("h1", {}, "Rollouts"), formBox, listBox);
  if (ctx.canAct) {
    const [models, groups] = await Promise.all([api.models(), api.groups().catch(() => [])]);
    formBox.append(createForm(models, groups, async (form) => {
      const spec = buildSpec(form);
      const ok = await confirmAction("Create rollout?", `Roll ${spec.model_version ?? spec.model} out to ${describeTarget(spec.target)} in ${spec.stages.length} stages.`, "Create");
      if (!ok) return;
      const r = await api.createRollout(spec);
      toast(`rollout ${r.name ?? r.id} created`);
      location.hash = `#/rollouts/${r.id}`;
    }, ctx.showError));
  }
  async function refresh() {
    const rows = await api.rollouts();
    const items = Array.isArray(rows) ? rows : rows.items || [];
    clear(listBox).append(h("h2", {}, "All rollouts"), table([
      { label: "rollout", get: (r) => h("a", { href: `#/rollouts/${r.id}`, "data-testid": `rollout-link-${r.id}` }, `#${r.id} ${r.name ?? ""}`) },
      { label: "model", get: modelOf },
      { label: "status", get: (r) => pill(r.status) },
      { label: "stage", cls: "num", get: (r) => (r.stages ? `${Math.min((r.current_stage ?? 0) + 1, r.stages.length)} / ${r.stages.length}` : "—") },
      { label: "created (UTC)", cls: "hide-phone", get: (r) => fmtTime(r.created_at) },
    ], items, { testid: "rollout-table", empty: "no rollouts yet" }));
  }
  await refresh();
  return { refresh, wants: (type) => type !== "telemetry" && type !== "heartbeat", dispose() {} };
}

function describeTarget(t) {
  if (!t) return "?";
  if (t.group) return `group ${t.group}`;
  if (t.selector) return `devices with ${Object.entries(t.selector).map(([k, v]) => `${k}=${v}`).join(", ")}`;
  return JSON.stringify(t);
}

const GATE_COLORS = { canary: "#d9480f", control: "#2458c6" };

async function detailView(root, ctx) {
  const id = ctx.args[0];
  const head = h("div");
  const actions = h("div", { class: "row", "data-testid": "rollout-actions" });
  const stagesBox = h("div", { class: "card", "data-testid": "stages" });
  const gatesBox = h("div", { class: "card", "data-testid": "gates" });
  const gateCharts = h("div", { class: "grid charts" });
  const eventsBox = h("div", { class: "card", style: "margin-top:1rem" });
  root.append(h("p", {}, h("a", { href: "#/rollouts" }, "← rollouts")), head, actions, h("div", { style: "height:.6rem" }),
    h("div", { class: "grid" }, stagesBox, gatesBox), h("div", { style: "height:1rem" }), gateCharts, eventsBox);
  const history = new Map(); // metric name -> {canary: [[t, v]], control: [[t, v]], unit}
  let rollout = null;

  async function act(a) {
    const ok = await confirmAction(`${a.label} rollout #${id}?`, a.text, a.label);
    if (!ok) return;
    try {
      await api.rolloutAction(id, a.name);
      toast(`${a.name}: done`);
      await refresh();
    } catch (err) {
      ctx.showError(err);
    }
  }

  function drawActions(allowed) {
    clear(actions);
    if (!ctx.canAct || !rollout) return;
    for (const a of ACTIONS) {
      if (!allowed.includes(a.name)) continue;
      actions.append(h("button", { type: "button", class: a.danger ? "danger" : "", "data-testid": `action-${a.name}`, onclick: () => act(a) }, a.label));
    }
  }

  function drawStages() {
    const stages = rollout.stages || [];
    clear(stagesBox).append(h("h2", {}, "Stages"));
    stages.forEach((st, i) => {
      const c = stageCounts(st);
      const cls = i < (rollout.current_stage ?? 0) || rollout.status === "succeeded" ? "done" : i === rollout.current_stage ? "current" : "";
      stagesBox.append(h("div", { class: `stage ${cls}`, "data-testid": `stage-${i}` },
        h("div", { class: "row" }, h("b", {}, `${i + 1}. ${st.name ?? st.label ?? ""}`), pill(st.status ?? (cls || "waiting")),
          h("span", { class: "muted", "data-testid": `stage-${i}-counts` },
            `${c.confirmed} confirmed · ${c.failed} failed · ${c.assigned} assigned of ${c.total}`)),
        progressBar(c, `stage-${i}-progress`)));
    });
  }

  function drawGates(g) {
    const metrics = g.metrics || [];
    const t = g.ts ?? Date.now() / 1000;
    for (const m of metrics) {
      const hist = history.get(m.name) || { canary: [], control: [], unit: m.unit, label: m.label ?? m.name };
      const last = hist.canary[hist.canary.length - 1];
      if (!last || last[0] !== t) {
        if (m.canary !== null && m.canary !== undefined) hist.canary.push([t, m.canary]);
        if (m.control !== null && m.control !== undefined) hist.control.push([t, m.control]);
        for (const k of ["canary", "control"]) if (hist[k].length > 240) hist[k].shift();
      }
      history.set(m.name, hist);
    }
    clear(gatesBox).append(
      h("h2", {}, "ML health gate: canary vs control"),
      h("p", { class: "muted" }, `canary: ${g.canary_devices ?? "—"} devices on the new version · control: ${g.control_devices ?? "—"} devices on the previous one · at ${fmtTime(t)}`),
      table([
        { label: "metric", get: (m) => `${m.label ?? m.name}${m.unit ? ` (${m.unit})` : ""}` },
        { label: "canary", cls: "num", get: (m) => fmtNum(m.canary) },
        { label: "control", cls: "num", get: (m) => fmtNum(m.control) },
        { label: "bound", cls: "num", get: (m) => (m.bound === null || m.bound === undefined ? "—" : `${m.op ?? "≤"} ${fmtNum(m.bound)}`) },
        { label: "gate", get: (m) => pill(m.pass === null || m.pass === undefined ? "no data" : m.pass ? "pass" : "fail") },
      ], metrics, { testid: "gate-table", empty: "no gate metrics yet", rowAttrs: (m) => ({ "data-metric": m.name }) }),
    );
    clear(gateCharts).append(...[...history.entries()].map(([name, hist]) => h("div", { class: "card" }, lineChart([
      { label: "canary", color: GATE_COLORS.canary, points: hist.canary },
      { label: "control", color: GATE_COLORS.control, points: hist.control },
    ], { title: hist.label, unit: hist.unit || name, testid: `gate-chart-${name}` }))));
  }

  async function refresh() {
    const [r, g] = await Promise.all([api.rollout(id), api.rolloutGates(id).catch(() => null)]);
    rollout = r;
    clear(head).append(h("h1", { "data-testid": "rollout-title" }, `Rollout #${r.id} ${r.name ?? ""} `, pill(r.status, r.status)),
      h("p", { class: "muted" }, `${modelOf(r)} → ${describeTarget(r.target)} · created ${fmtTime(r.created_at)}${r.created_by ? ` by ${r.created_by}` : ""}`));
    head.querySelector(".pill").dataset.testid = "rollout-status";
    drawActions(g && g.actions ? g.actions : []);
    drawStages();
    if (g) drawGates(g);
    const evs = r.events || [];
    clear(eventsBox).append(h("h2", {}, "Rollout events"), table([
      { label: "#", cls: "num", get: (e) => e.seq },
      { label: "time (UTC)", get: (e) => fmtTime(e.ts) },
      { label: "event", get: (e) => e.kind },
      { label: "detail", get: (e) => summarize(e.data) },
    ], evs.slice().reverse(), { testid: "rollout-events", empty: "no events yet" }));
    if (TERMINAL.includes(r.status)) root.dataset.final = r.status;
  }
  await refresh();
  return { refresh, wants: (type) => type !== "heartbeat", dispose() {} };
}

export function summarize(data) {
  if (!data || typeof data !== "object") return data ?? "";
  return Object.entries(data).map(([k, v]) => `${k}=${Array.isArray(v) ? (v.length > 6 ? `${v.length} items` : v.join(",")) : typeof v === "object" && v !== null ? JSON.stringify(v) : typeof v === "number" ? fmtNum(v) : v}`).join(" ");
}

export { fmtPct };

export async function mount(root, ctx) {
  return ctx.args.length ? detailView(root, ctx) : listView(root, ctx);
}
