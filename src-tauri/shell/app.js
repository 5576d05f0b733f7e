// The app's own page: status, routing switch, port, autostart, notification and update
// settings. It talks to the app only through the handful of commands the capability grants
// (withGlobalTauri is off; this is the IPC entry point Tauri injects). Everything shown is set
// with textContent: nothing from the router or the user is ever parsed as HTML.
"use strict";

const invoke = (cmd, args) => window.__TAURI_INTERNALS__.invoke(cmd, args || {});
const $ = (id) => document.getElementById(id);

const KIND_LABELS = {
  alias_unusable: "a model alias has no usable key left",
  auth_failed: "a key fails authentication",
  out_of_balance: "a key is out of balance",
  rate_limited: "a key is rate limited",
  recovered: "a key or alias recovers",
};

let last = null;

function showError(e) {
  $("error").textContent = e ? String(e) : "";
}

function render(s) {
  last = s;
  $("version").textContent = "v" + s.version;
  const p = s.problem;
  $("problem").hidden = !p;
  if (p) {
    $("problem-message").textContent = p.message;
    if (document.activeElement !== $("port-input")) $("port-input").value = String(p.port);
  }
  $("onboarding").hidden = s.onboarded || !!p;
  const on = s.listening;
  const toggle = $("routing-toggle");
  toggle.setAttribute("aria-checked", on ? "true" : "false");
  toggle.textContent = on ? "Routing on" : "Routing off";
  toggle.disabled = !s.running;
  $("routing-state").textContent = s.running ? s.tray_state.replace(/_/g, " ") : "router not running";
  $("endpoint").textContent = s.endpoint;
  const c = s.counts;
  $("health").textContent = c.keys === 0 ? "no keys yet" :
    `${c.keys} keys: ${c.healthy} healthy, ${c.cooling} cooling, ${c.down} failing`;
  const st = s.secret_store;
  $("secrets").textContent = st.kind === "os_keychain"
    ? `in the OS keychain (${st.keychain})` + (st.migrated ? `; ${st.migrated} moved from the encrypted file` : "")
    : `encrypted file — ${st.keychain} unavailable (${st.code || "?"}): ${st.reason || ""}`;
  $("secrets").dataset.code = st.code || "";
  $("open-dashboard").disabled = !on;
  for (const box of document.querySelectorAll("[data-autostart]")) {
    box.checked = s.autostart === true;
    box.disabled = s.autostart === null;
  }
  const kinds = $("notice-kinds");
  if (!kinds.childElementCount) {
    for (const k of s.notice_kinds) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.dataset.kind = k;
      box.addEventListener("change", () => act("set_notification_muted", { kind: k, muted: !box.checked }));
      label.append(box, " " + (KIND_LABELS[k] || k));
      kinds.append(label);
    }
  }
  for (const box of kinds.querySelectorAll("input")) box.checked = !s.muted.includes(box.dataset.kind);
  renderUpdate(s.update);
}

function renderUpdate(u) {
  const text = {
    idle: "",
    checking: "Checking…",
    up_to_date: "Up to date.",
    available: `Version ${u.version} is ready (signature verified).`,
    error: `Update refused or check failed: ${u.message}`,
  }[u.state] || "";
  $("update-status").textContent = text;
  $("update-status").dataset.state = u.state;
  $("update-install").hidden = u.state !== "available";
}

async function act(cmd, args) {
  showError("");
  try {
    const r = await invoke(cmd, args);
    if (r && typeof r === "object" && "listening" in r) render(r);
    return r;
  } catch (e) {
    showError(e);
    return null;
  }
}

async function refresh() {
  try {
    render(await invoke("app_status"));
  } catch (e) {
    showError(e);
  }
}

function wire() {
  $("routing-toggle").addEventListener("click", () => act("set_routing", { on: !(last && last.listening) }));
  $("open-dashboard").addEventListener("click", () => act("open_dashboard", {}));
  $("port-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("change_port", { port: Number($("port-input").value) });
  });
  for (const box of document.querySelectorAll("[data-autostart]")) {
    box.addEventListener("change", () => act("set_autostart", { on: box.checked }));
  }
  for (const b of document.querySelectorAll("[data-page]")) {
    b.addEventListener("click", () => act("open_dashboard", { page: b.dataset.page }));
  }
  $("onboarding-done").addEventListener("click", async () => {
    await act("finish_onboarding");
    await act("open_dashboard", {});
  });
  $("update-check").addEventListener("click", async () => {
    renderUpdate({ state: "checking" });
    const u = await act("check_update");
    if (u) renderUpdate(u);
  });
  $("update-install").addEventListener("click", () => act("install_update"));
}

wire();
refresh();
setInterval(refresh, 1500);
