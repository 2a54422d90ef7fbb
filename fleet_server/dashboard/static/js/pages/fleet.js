// Fleet: every device by board, model version and online state, with filters; counts come from the same API list.
import { api } from "../api.js";
import { clear, fmtTime, h, pill, table } from "../dom.js";

const MAX_ROWS = 500; // a table of thousands of rows helps nobody and slows every refresh

export function modelLabel(d) {
  return d.model ? `${d.model.name} ${d.model.version}` : "none";
}

export function countBy(devices, key) {
  const out = new Map();
  for (const d of devices) out.set(key(d), (out.get(key(d)) || 0) + 1);
  return [...out.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
}

function select(name, label, values, current, onChange) {
  const el = h("select", { name, "data-testid": `filter-${name}`, onchange: (e) => onChange(e.target.value) },
    h("option", { value: "" }, "all"),
    values.map((v) => h("option", { value: v, selected: v === current }, v)));
  return h("label", {}, label, el);
}

export async function mount(root, ctx) {
  const filters = { board: "", model: "", online: "", text: "" };
  const stats = h("div", { class: "stats", "data-testid": "fleet-stats" });
  const filterBar = h("div", { class: "row filters" });
  const breakdown = h("div", { class: "grid" });
  const list = h("div", { class: "card" });
  root.append(h("h1", {}, "Fleet"), stats, breakdown, h("div", { style: "height:1rem" }), filterBar, list);
  let devices = [];
  const updating = new Set((await api.states()).updating); // the server's set, from the contract enum

  function stat(label, value, testid) {
    return h("div", { class: "stat", "data-testid": testid }, h("b", { "data-testid": `${testid}-value` }, value), h("span", {}, label));
  }

  function breakdownCard(title, entries, testid) {
    return h("div", { class: "card", "data-testid": testid },
      h("h2", {}, title),
      table([{ label: title.replace(/^by /, ""), get: (e) => e[0] }, { label: "devices", cls: "num", get: (e) => e[1] }],
        entries, { rowAttrs: (e) => ({ "data-key": e[0] }) }));
  }

  function draw() {
    const online = devices.filter((d) => d.online).length;
    clear(stats).append(
      stat("devices", devices.length, "count-total"),
      stat("online", online, "count-online"),
      stat("offline", devices.length - online, "count-offline"),
      stat("updating", devices.filter((d) => updating.has(d.update)).length, "count-updating"),
    );
    const boards = countBy(devices, (d) => d.board);
    const models = countBy(devices, modelLabel);
    clear(breakdown).append(breakdownCard("by board", boards, "by-board"), breakdownCard("by model version", models, "by-model"));

    clear(filterBar).append(
      select("board", "board", boards.map((e) => e[0]), filters.board, (v) => { filters.board = v; drawList(); }),
      select("model", "model version", models.map((e) => e[0]), filters.model, (v) => { filters.model = v; drawList(); }),
      select("online", "state", ["online", "offline"], filters.online, (v) => { filters.online = v; drawList(); }),
      h("label", {}, "search", h("input", { type: "search", value: filters.text, placeholder: "id or tag", "data-testid": "filter-text",
        oninput: (e) => { filters.text = e.target.value; drawList(); } })),
    );
    drawList();
  }

  function drawList() {
    const t = filters.text.toLowerCase();
    const shown = devices.filter((d) =>
      (!filters.board || d.board === filters.board) &&
      (!filters.model || modelLabel(d) === filters.model) &&
      (!filters.online || (filters.online === "online") === Boolean(d.online)) &&
      (!t || d.id.toLowerCase().includes(t) || JSON.stringify(d.tags || {}).toLowerCase().includes(t)));
    const rows = shown.slice(0, MAX_ROWS);
    clear(list).append(
      h("h2", {}, "Devices ", h("span", { class: "muted", "data-testid": "shown-count" },
        shown.length > MAX_ROWS ? `first ${MAX_ROWS} of ${shown.length} shown: filter to see the others` : `${shown.length} shown`)),
      table([
        { label: "device", get: (d) => h("a", { href: `#/devices/${encodeURIComponent(d.id)}` }, d.id) },
        { label: "board", get: (d) => d.board },
        { label: "model", get: (d) => modelLabel(d) },
        { label: "state", get: (d) => pill(d.online ? "online" : "offline") },
        { label: "update", cls: "hide-phone", get: (d) => pill(d.update || "idle") },
        { label: "last seen (UTC)", cls: "hide-phone", get: (d) => fmtTime(d.last_seen) },
      ], rows, { testid: "device-table", empty: "no devices match", rowAttrs: (d) => ({ "data-device": d.id }) }),
    );
  }

  async function refresh() {
    devices = await api.devices();
    draw();
  }
  await refresh();
  return {
    refresh,
    wants: (type) => type !== "telemetry",
    dispose() {},
  };
}
