// Rollouts: the list, the create form, and one rollout's stages, canary-vs-control gate metrics and actions.
import { api } from "../api.js";
import { lineChart } from "../charts.js";
import { confirmAction } from "../confirm.js";
import { clear, fmtNum, fmtTime, h, pill, table, toast } from "../dom.js";
import { buildSpec, createForm } from "./rollout_form.js";

// Which actions a rollout allows comes from the server (its transition table), never guessed here.
const ACTIONS = [
  { name: "pause", label: "Pause", text: "Stop assigning devices and deciding gates until resumed." },
  { name: "resume", label: "Resume", text: "Continue the rollout; its gates are evaluated again." },
  { name: "promote", label: "Promote", text: "Skip the remaining wait (or approve) and start the next stage now." },
  { name: "abort", label: "Abort", danger: true,
    text: "Stop the rollout and send every device it touched back to its previous model version." },
];

function progressBar(st, testid) {
  const pct = (x) => (st.target ? (100 * x) / st.target : 0);
  const back = st.rollback_issued + st.restored;
  const running = Math.max(0, st.assigned - st.confirmed - st.failed - back);
  return h("div", { class: "progress", "data-testid": testid,
    title: `${st.confirmed} confirmed, ${st.failed} failed, ${back} rolled back, ${running} installing, of ${st.target}` },
  h("i", { class: "ok", style: `width:${pct(st.confirmed)}%` }),
  h("i", { class: "bad", style: `width:${pct(st.failed + back)}%` }),
  h("i", { class: "run", style: `width:${pct(running)}%` }));
}

function modelOf(r) {
  return String(r.package ?? "—").replace("@", " ");
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
      { label: "stage", get: (r) => (r.stage >= 0 ? `${r.stage + 1}/${r.stages} ${r.stage_name ?? ""}` : `–/${r.stages}`) },
      { label: "devices", cls: "num hide-phone", get: (r) => r.touched },
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
    stagesBox, gatesBox, gateCharts, eventsBox);
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

  function drawStages(stages) {
    clear(stagesBox).append(h("h2", {}, "Stages"));
    for (const st of stages) {
      const i = st.index;
      const cls = st.phase === "done" ? "done" : st.phase === "waiting" ? "" : "current";
      stagesBox.append(h("div", { class: `stage ${cls}`, "data-testid": `stage-${i}`, "data-phase": st.phase },
        h("div", { class: "row" }, h("b", {}, `${i + 1}. ${st.name}`), h("span", { class: "muted" }, st.share), pill(st.phase),
          st.manual_approval ? h("span", { class: "muted" }, "needs approval") : null,
          st.soak_s ? h("span", { class: "muted" }, `soak ${st.soak_s} s`) : null),
        h("div", { class: "muted", "data-testid": `stage-${i}-counts`, "data-confirmed": st.confirmed, "data-assigned": st.assigned,
          "data-target": st.target },
        `${st.confirmed} confirmed · ${st.failed} failed · ${st.rollback_issued + st.restored} rolled back · ${st.assigned} assigned of ${st.target}`),
        progressBar(st, `stage-${i}-progress`)));
    }
  }

  function drawGates(g) {
    const t = g.ts;
    if (!g.gated) {
      clear(gatesBox).append(h("h2", {}, "ML health gate"),
        h("p", { class: "muted", "data-testid": "gate-cohorts" }, "This rollout has no ML health bounds: only install success and failures decide its stages."));
      clear(gateCharts);
      return;
    }
    for (const m of g.metrics) {
      const hist = history.get(m.name) || { canary: [], control: [], unit: m.unit, label: m.label };
      if (m.canary !== null) hist.canary.push([t, m.canary]);
      if (m.control !== null) hist.control.push([t, m.control]);
      for (const k of ["canary", "control"]) if (hist[k].length > 240) hist[k].shift();
      history.set(m.name, hist);
    }
    clear(gatesBox).append(
      h("h2", {}, "ML health gate: canary vs control"),
      h("p", { class: "muted", "data-testid": "gate-cohorts" },
        `canary: ${g.canary_devices} devices on the new version (${g.canary_n} inferences) · control: ${g.control_devices} devices on their previous version (${g.control_n} inferences) · window ${g.window_s} s, min ${g.min_samples} inferences each · ${fmtTime(t)}`),
      table([
        { label: "metric", get: (m) => `${m.label} (${m.unit})` },
        { label: "canary", cls: "num", get: (m) => fmtNum(m.canary) },
        { label: "control", cls: "num", get: (m) => fmtNum(m.control) },
        { label: "compared", cls: "num hide-phone", get: (m) => (m.value === null ? m.compared : `${m.compared} = ${fmtNum(m.value)}`) },
        { label: "bound", cls: "num", get: (m) => (m.bound === null ? "—" : `≤ ${fmtNum(m.bound)}`) },
        { label: "interval", cls: "num hide-phone", get: (m) => (m.lower === null && m.upper === null ? "—" : `[${m.lower === null ? "−∞" : fmtNum(m.lower)}, ${m.upper === null ? "∞" : fmtNum(m.upper)}]`) },
        { label: "gate", get: (m) => pill(m.outcome, m.outcome === "pass" ? "ok" : m.outcome === "fail" ? "bad" : "") },
      ], g.metrics, { testid: "gate-table", rowAttrs: (m) => ({ "data-metric": m.name, title: m.detail }) }),
    );
    clear(gateCharts).append(...[...history.entries()].map(([name, hist]) => h("div", { class: "card" }, lineChart([
      { label: "canary", color: GATE_COLORS.canary, points: hist.canary },
      { label: "control", color: GATE_COLORS.control, points: hist.control },
    ], { title: `${hist.label}: canary vs control`, unit: hist.unit, testid: `gate-chart-${name}` }))));
  }

  async function refresh() {
    const [r, v, evs] = await Promise.all([api.rollout(id), api.rolloutView(id), api.audit({ rollout_id: id, limit: 200 })]);
    rollout = r;
    clear(head).append(...[h("h1", { "data-testid": "rollout-title" }, `Rollout #${r.id} ${r.name ?? ""} `, pill(r.status)),
      h("p", { class: "muted" }, `${modelOf(r)} → ${describeTarget(r.target)} · created ${fmtTime(r.created_at)}${r.created_by ? ` by ${r.created_by}` : ""}`),
      r.reason ? h("p", { "data-testid": "rollout-reason" }, `Reason: ${r.reason}`) : null,
      r.error ? h("p", { class: "bad", "data-testid": "rollout-error" }, `Last step failed: ${r.error}`) : null,
      (r.rollback_refused || []).length
        ? h("p", { class: "bad", "data-testid": "rollout-refused" }, `Refused the rollback (anti-rollback; they keep ${modelOf(r)}): ${r.rollback_refused.join(", ")}`)
        : null,
      Object.keys(r.skipped || {}).length
        ? h("p", { class: "muted", "data-testid": "rollout-skipped" }, `Skipped: ${Object.entries(r.skipped).map(([d, why]) => `${d} (${why.join("; ")})`).join(", ")}`)
        : null].filter(Boolean));
    head.querySelector(".pill").dataset.testid = "rollout-status";
    drawActions(v.actions);
    drawStages(v.stages);
    drawGates(v.gates);
    clear(eventsBox).append(h("h2", {}, "Rollout events"), table([
      { label: "#", cls: "num", get: (e) => e.seq },
      { label: "time (UTC)", get: (e) => fmtTime(e.ts) },
      { label: "event", get: (e) => e.kind },
      { label: "by", get: (e) => e.actor },
      { label: "detail", get: (e) => summarize(e.data) },
    ], evs, { testid: "rollout-events", empty: "no events yet" }));
    root.dataset.status = r.status;
  }
  await refresh();
  // stage progress arrives on the stream; gate figures follow telemetry, which the stream does not carry
  return { refresh, pollMs: 5000, dispose() {} };
}

export function summarize(data) {
  if (!data || typeof data !== "object") return data ?? "";
  return Object.entries(data).map(([k, v]) => `${k}=${Array.isArray(v) ? (v.length > 6 ? `${v.length} items` : v.join(",")) : typeof v === "object" && v !== null ? JSON.stringify(v) : typeof v === "number" ? fmtNum(v) : v}`).join(" ");
}


export async function mount(root, ctx) {
  return ctx.args.length ? detailView(root, ctx) : listView(root, ctx);
}
