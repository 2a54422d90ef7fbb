// Audit log: every recorded action and rollout event, newest first.
import { api } from "../api.js";
import { clear, fmtTime, h, table } from "../dom.js";
import { summarize } from "./rollouts.js";

export async function mount(root, ctx) {
  const filter = { text: "" };
  const box = h("div", { class: "card" });
  const bar = h("div", { class: "row filters" },
    h("label", {}, "search", h("input", { type: "search", "data-testid": "audit-filter", oninput: (e) => { filter.text = e.target.value.toLowerCase(); draw(); } })));
  root.append(h("h1", {}, "Audit log"), bar, box);
  let rows = [];

  function draw() {
    const shown = rows.filter((r) => !filter.text || JSON.stringify(r).toLowerCase().includes(filter.text));
    clear(box).append(table([
      { label: "time (UTC)", get: (r) => fmtTime(r.ts) },
      { label: "who", get: (r) => r.actor ?? r.by ?? (r.data && r.data.by) ?? "—" },
      { label: "subject", get: (r) => (r.rollout_id ? h("a", { href: `#/rollouts/${r.rollout_id}` }, `rollout #${r.rollout_id} ${r.rollout ?? ""}`) : r.subject ?? "—") },
      { label: "action", get: (r) => r.kind ?? r.action },
      { label: "detail", get: (r) => summarize(r.data ?? r.detail) },
    ], shown, { testid: "audit-table", empty: "nothing recorded yet" }));
  }

  async function refresh() {
    const res = await api.audit({ limit: 500 });
    rows = Array.isArray(res) ? res : res.items || [];
    draw();
  }
  await refresh();
  return { refresh, wants: (type) => type !== "telemetry" && type !== "heartbeat", dispose() {} };
}
