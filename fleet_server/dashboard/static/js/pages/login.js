// Log-in: paste one of the server's API tokens; it is kept in sessionStorage for this tab only.
import { setToken } from "../auth.js";
import { h } from "../dom.js";

export function mount(root, { onLogin }) {
  const input = h("textarea", { id: "token", name: "token", autocomplete: "off", spellcheck: "false",
    required: true, "data-testid": "token-input", placeholder: "tf_…" });
  const msg = h("p", { class: "error", "data-testid": "login-error", role: "alert" });
  const form = h("form", { class: "card login", "data-testid": "login-form" },
    h("h1", {}, "Log in"),
    h("p", { class: "muted" }, "Paste an API token (from ", h("code", {}, "tinyfleet token create"),
      " or the server's admin token). It stays in this browser tab only."),
    h("label", { for: "token" }, "API token", input),
    msg,
    h("div", { class: "row end" }, h("button", { type: "submit", class: "primary", "data-testid": "login-submit" }, "Log in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    setToken(input.value);
    try {
      await onLogin();
    } catch (err) {
      msg.textContent = err.message;
    }
  });
  root.append(form);
  input.focus();
  return { dispose() {} };
}
