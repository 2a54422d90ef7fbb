// Continuous-training loops: one timeline per iteration of a policy (every step an audit event).
import { request } from "../api.js";
import { clear, fmtTime, h, pill, table } from "../dom.js";

function timeline(run) {
  return h("ol", { class: "timeline", "data-testid": `loop-${run.id}` },
    ...(run.events || []).map((e) => h("li", {},
      h("b", {}, e.kind.replaceAll("_", " ")), " ", h("span", { class: "muted" }, fmtTime(e.ts)), " ",
      h("code", {}, JSON.stringify(e.data).slice(0, 200)))));
}

export async function mount(root) {
  const list = h("div", { class: "card" });
  const detail = h("div", { class: "card", style: "margin-top:1rem" });
  root.append(h("h1", {}, "Loops"), list, detail);
  async function show(id) {
    const run = await request("GET", `/policies/runs/${id}`);
    clear(detail).append(h("h2", {}, `iteration #${run.id} of ${run.policy}: `, pill(run.status)), timeline(run));
  }
  async function refresh() {
    const runs = await request("GET", "/policies/runs");
    clear(list).append(table([
      { label: "iteration", get: (r) => h("a", { href: "#/loops", onclick: (ev) => { ev.preventDefault(); show(r.id); } }, `#${r.id}`) },
      { label: "policy", get: (r) => r.policy },
      { label: "status", get: (r) => pill(r.status) },
      { label: "challenger", get: (r) => (r.data && r.data.challenger) || "—" },
      { label: "started (UTC)", get: (r) => fmtTime(r.started_at) },
    ], runs, { testid: "loop-table", empty: "no loop iterations yet" }));
    if (runs.length) await show(runs[0].id);
  }
  await refresh();
  return { refresh, wants: (type) => type === "policy" || type === "capture" || type === "model", dispose() {} };
}
