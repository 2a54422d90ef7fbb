// DOM helpers: elements are built with createElement/textContent only, so server data is never parsed as HTML.

// The SVG XML namespace is a name, never fetched (the only URL the no-CDN test allows).
const SVG_NS = "http://www.w3.org/2000/svg";

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  return fill(el, attrs, children);
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  return fill(el, attrs, children);
}

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k === "style") el.style.cssText = String(v); // CSSOM, allowed by the page's style-src 'self'
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function pill(value, cls) {
  const v = value === undefined || value === null ? "—" : String(value);
  return h("span", { class: `pill ${cls || v}` }, v);
}

export function fmtTime(ts) {
  if (ts === undefined || ts === null || ts === "") return "—";
  const d = typeof ts === "number" ? new Date(ts * 1000) : new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function fmtNum(x, digits = 3) {
  if (x === undefined || x === null || Number.isNaN(x)) return "—";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return String(x);
  return x.toFixed(digits);
}

export function fmtPct(x) {
  if (x === undefined || x === null || Number.isNaN(x)) return "—";
  return `${(100 * x).toFixed(1)} %`;
}

export function toast(message, isError = false) {
  const box = document.getElementById("toast");
  const el = h("div", { class: isError ? "error" : "" }, message);
  box.append(el);
  setTimeout(() => el.remove(), isError ? 8000 : 4000);
}

export function table(columns, rows, opts = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.cls || "" }, c.label)));
  const body = rows.map((r) =>
    h("tr", opts.rowAttrs ? opts.rowAttrs(r) : {}, columns.map((c) => {
      const v = c.get(r);
      return h("td", { class: c.cls || "" }, v instanceof Node ? v : v === undefined || v === null ? "—" : String(v));
    })),
  );
  const t = h("table", { "data-testid": opts.testid },
    h("thead", {}, head),
    h("tbody", {}, body.length ? body : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, opts.empty || "nothing yet"))));
  return h("div", { class: "scroll" }, t);
}
