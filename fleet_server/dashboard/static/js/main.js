// Dashboard entry: log-in, hash routing, and the live stream that refreshes the page in view.
import { api, ApiError, openStream } from "./api.js";
import { clearToken, getToken } from "./auth.js";
import { clear, h, toast } from "./dom.js";
import * as audit from "./pages/audit.js";
import * as device from "./pages/device.js";
import * as drift from "./pages/drift.js";
import * as fleet from "./pages/fleet.js";
import * as login from "./pages/login.js";
import * as loops from "./pages/loops.js";
import * as models from "./pages/models.js";
import * as rollouts from "./pages/rollouts.js";

const PAGES = { fleet, device, rollouts, drift, audit, models, loops };
const POLL_MS = 3000;

const state = { role: null, subject: null, page: null, stopStream: null, pollTimer: null, pageTimer: null, live: "off", pending: null, paused: false };
const main = document.getElementById("main");

function setLive(mode) {
  state.live = mode;
  const el = document.getElementById("live");
  el.className = `live ${state.paused ? "off" : mode}`;
  el.textContent = state.paused ? "paused" : mode === "on" ? "live" : mode === "poll" ? "polling" : "offline";
  // Polling is the fallback only while the stream is down.
  if (mode === "poll" && !state.pollTimer) state.pollTimer = setInterval(() => refreshPage(), POLL_MS);
  if (mode !== "poll" && state.pollTimer) {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }
}

// One refresh at a time, at most one a second: a busy fleet (thousands of devices changing during a
// rollout) must not make the page re-read the API back to back.
const MIN_GAP_MS = 1000;
const refreshing = { busy: false, again: false, last: 0 };

function refreshPage() {
  if (state.paused || !state.page || !state.page.refresh) return; // paused: the operator froze the view
  if (refreshing.busy) {
    refreshing.again = true;
    return;
  }
  refreshing.busy = true;
  refreshing.last = Date.now();
  state.page.refresh().catch(showError).finally(() => {
    refreshing.busy = false;
    if (refreshing.again) {
      refreshing.again = false;
      setTimeout(refreshPage, Math.max(0, MIN_GAP_MS - (Date.now() - refreshing.last)));
    }
  });
}

function togglePause() {
  state.paused = !state.paused;
  const btn = document.getElementById("pause");
  btn.textContent = state.paused ? "Resume live" : "Pause";
  btn.setAttribute("aria-pressed", String(state.paused));
  setLive(state.live);
  if (!state.paused) refreshPage();
}

function onStreamEvent(type, data) {
  if (!state.page) return;
  if (state.page.onEvent) state.page.onEvent(type, data);
  // Coalesce bursts of events into one refresh per 250 ms.
  if (state.pending) return;
  state.pending = setTimeout(() => {
    state.pending = null;
    if (!state.page || !state.page.wants || state.page.wants(type, data)) refreshPage();
  }, 250);
}

export function showError(err) {
  if (err instanceof ApiError && err.status === 401) return;
  toast(err instanceof Error ? err.message : String(err), true);
}

function parseHash() {
  const parts = (location.hash || "#/fleet").replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const name = parts[0] || "fleet";
  return { name, args: parts.slice(1) };
}

let routeSeq = 0;

async function route() {
  const seq = ++routeSeq; // a newer navigation wins over one still loading
  if (state.page && state.page.dispose) state.page.dispose();
  state.page = null;
  if (state.pageTimer) clearInterval(state.pageTimer);
  state.pageTimer = null;
  clear(main);
  if (!getToken() || !state.role) {
    document.querySelectorAll("#nav a").forEach((a) => a.classList.remove("active"));
    state.page = login.mount(main, { onLogin: start });
    return;
  }
  const { name, args } = parseHash();
  const mod = PAGES[name === "devices" ? "device" : name];
  document.querySelectorAll("#nav a").forEach((a) => {
    a.classList.toggle("active", a.dataset.page === (name === "devices" ? "fleet" : name));
  });
  if (!mod) {
    main.append(h("p", { class: "error" }, `No page named ${name}.`));
    return;
  }
  const ctx = { role: state.role, canAct: state.role === "admin" || state.role === "operator", args, showError };
  try {
    const root = h("div", { class: "page" });
    main.append(root);
    const page = await mod.mount(root, ctx);
    if (seq !== routeSeq) {
      if (page.dispose) page.dispose();
      root.remove();
      return;
    }
    state.page = page;
    main.dataset.page = name;
    // Telemetry is not announced on the stream (it is too frequent): pages that chart it re-read it.
    if (page.pollMs) state.pageTimer = setInterval(() => refreshPage(), page.pollMs);
  } catch (err) {
    if (seq !== routeSeq) return;
    clear(main).append(h("p", { class: "error", "data-testid": "page-error" }, `Cannot show this page: ${err.message}`));
  }
}

async function start() {
  try {
    const me = await api.whoami();
    state.role = me.role;
    state.subject = me.name || me.subject || me.role;
  } catch (err) {
    state.role = null;
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      clearToken();
      throw new Error("the server did not accept this token");
    }
    throw err;
  }
  document.getElementById("who").textContent = `${state.subject} · ${state.role}`;
  document.getElementById("who").dataset.role = state.role;
  document.getElementById("logout").hidden = false;
  document.getElementById("pause").hidden = false;
  if (state.stopStream) state.stopStream();
  state.stopStream = openStream("/events/stream", onStreamEvent, setLive);
  if (!location.hash || location.hash === "#/login") location.hash = "#/fleet"; // hashchange routes
  else await route();
}

function logout() {
  clearToken();
  state.role = null;
  if (state.stopStream) state.stopStream();
  state.stopStream = null;
  setLive("off");
  document.getElementById("who").textContent = "";
  document.getElementById("logout").hidden = true;
  document.getElementById("pause").hidden = true;
  route();
}

document.getElementById("logout").addEventListener("click", logout);
document.getElementById("pause").addEventListener("click", togglePause);
window.addEventListener("tf:unauthorized", () => { if (state.role) logout(); });
window.addEventListener("hashchange", () => route());
// Charts are drawn for the screen width (phone or wider): redraw when that class changes.
let phoneWidth = window.innerWidth < 600;
window.addEventListener("resize", () => {
  if ((window.innerWidth < 600) !== phoneWidth) {
    phoneWidth = !phoneWidth;
    refreshPage();
  }
});

if (getToken()) start().catch((err) => { showError(err); route(); });
else route();
