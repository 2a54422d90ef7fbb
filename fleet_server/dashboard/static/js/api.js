// The fleet server's REST API as the dashboard uses it; every route the pages call is named here.
import { clearToken, getToken } from "./auth.js";

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function detailOf(body, status) {
  if (body && typeof body === "object" && "detail" in body) {
    const d = body.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
    return JSON.stringify(d);
  }
  return `HTTP ${status}`;
}

export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (res.status === 401) {
    clearToken();
    window.dispatchEvent(new CustomEvent("tf:unauthorized"));
  }
  if (!res.ok) throw new ApiError(res.status, detailOf(data, res.status));
  return data;
}

const q = (params) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : "";
};
const enc = encodeURIComponent;

export const api = {
  whoami: () => request("GET", "/ui/whoami"),
  states: () => request("GET", "/ui/states"),
  devices: (params) => request("GET", `/devices${q(params)}`),
  device: (id) => request("GET", `/devices/${enc(id)}`),
  deviceEvents: (id, params) => request("GET", `/devices/${enc(id)}/events${q(params)}`),
  deviceTelemetry: (id, params) => request("GET", `/ui/devices/${enc(id)}/telemetry${q(params)}`),
  groups: () => request("GET", "/groups"),
  models: () => request("GET", "/models"),
  rollouts: () => request("GET", "/rollouts"),
  rollout: (id) => request("GET", `/rollouts/${enc(id)}`),
  rolloutView: (id) => request("GET", `/ui/rollouts/${enc(id)}`),
  createRollout: (spec) => request("POST", "/rollouts", spec),
  rolloutAction: (id, action) => request("POST", `/rollouts/${enc(id)}/${action}`),
  driftReport: (params) => request("GET", `/drift${q(params)}`),
  driftSeries: (name, version, params) => request("GET", `/ui/drift/${enc(name)}/${enc(version)}${q(params)}`),
  audit: (params) => request("GET", `/ui/audit${q(params)}`),
};

// Server-sent events read through fetch, so the bearer token goes in a header (EventSource cannot send one).
export function openStream(path, onEvent, onState) {
  const ctrl = new AbortController();
  let stopped = false;
  async function run() {
    let delay = 500;
    while (!stopped) {
      try {
        const token = getToken();
        const res = await fetch(BASE + path, {
          headers: { Accept: "text/event-stream", Authorization: `Bearer ${token}` },
          signal: ctrl.signal,
        });
        if (!res.ok || !res.body) throw new ApiError(res.status, `stream HTTP ${res.status}`);
        onState("on");
        delay = 500;
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let type = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) type = line.slice(6).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
            }
            if (data.length) {
              let parsed;
              try {
                parsed = JSON.parse(data.join("\n"));
              } catch {
                parsed = data.join("\n");
              }
              onEvent(type, parsed);
            }
          }
        }
      } catch (err) {
        if (stopped) return;
      }
      if (stopped) return;
      onState("poll");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 8000);
    }
  }
  run();
  return () => {
    stopped = true;
    ctrl.abort();
  };
}
