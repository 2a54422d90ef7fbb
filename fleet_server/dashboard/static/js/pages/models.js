// Model versions in the registry, each with the MLflow run that built it (when the server knows the
// MLflow UI's address, --mlflow-url) and the data lineage of retrained versions.
import { api } from "../api.js";
import { clear, fmtTime, h, table } from "../dom.js";

function mlflowCell(m) {
  if (m.mlflow_url) return h("a", { href: m.mlflow_url, target: "_blank", rel: "noopener", "data-testid": `mlflow-${m.name}-${m.version}` }, `run ${m.mlflow_run_id.slice(0, 8)}`);
  if (m.mlflow_run_id) return h("code", { title: "start the server with --mlflow-url to link it" }, m.mlflow_run_id.slice(0, 8));
  return "—";
}

export async function mount(root) {
  const box = h("div", { class: "card" });
  root.append(h("h1", {}, "Models"), box);
  async function refresh() {
    const rows = await api.models();
    clear(box).append(table([
      { label: "model", get: (m) => m.name },
      { label: "version", get: (m) => m.version },
      { label: "counter", cls: "num", get: (m) => m.security_counter },
      { label: "MLflow run", get: mlflowCell },
      { label: "sha256", cls: "hide-phone", get: (m) => h("code", {}, m.sha256.slice(0, 12)) },
      { label: "published (UTC)", cls: "hide-phone", get: (m) => fmtTime(m.uploaded_at) },
      { label: "by", cls: "hide-phone", get: (m) => m.uploaded_by },
    ], rows, { testid: "model-table", empty: "no models published yet" }));
  }
  await refresh();
  return { refresh, wants: (type) => type === "model", dispose() {} };
}
