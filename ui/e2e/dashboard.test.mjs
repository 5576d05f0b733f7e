// End-to-end: the dashboard in headless Chromium against a real `switchboard serve` and the
// mock upstream. Needs SWITCHBOARD_BIN and MOCK_BIN (built binaries); builds nothing.
//
//   SWITCHBOARD_BIN=… MOCK_BIN=… node --test e2e/dashboard.test.mjs
//
// Screenshots of every page, light and dark, go to <repo>/artifacts/screenshots/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { Processes, freePort, waitFor } from "./processes.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const SHOTS = join(ROOT, "artifacts", "screenshots");
const ADMIN = "sb-admin-e2e-0123456789abcdef";
const ACCESS = "sk-sb-e2e-access-0123456789";
const EVIL = "<img src=x onerror=alert(1)>";
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const TIMEOUT = 20_000;

const procs = new Processes();
let tmp;
let base;
let mockUrl;
let context;
let page;
const pageErrors = [];
const dialogs = [];

async function admin(path, init = {}) {
  const resp = await fetch(base + path, { ...init, headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json", ...(init.headers ?? {}) } });
  assert.ok(resp.ok, `${path}: ${resp.status}`);
  return resp.json();
}

async function shot(name) {
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  // Toasts would cover the page: dismiss them.
  for (const b of await page.locator(".toast button").all()) await b.click().catch(() => {});
  // Let skeletons resolve: wait until nothing on screen is still loading.
  await page.waitForFunction(() => !document.querySelector("[aria-busy='true']"), null, { timeout: TIMEOUT });
  await page.screenshot({ path: join(SHOTS, `${name}-${theme}.png`), fullPage: true });
}

async function go(path) {
  await page.getByRole("navigation", { name: "Main" }).locator(`a[href="${path}"]`).click();
  await page.waitForURL((u) => u.pathname === path);
}

before(async () => {
  assert.ok(process.env.SWITCHBOARD_BIN, "set SWITCHBOARD_BIN to the built switchboard binary");
  assert.ok(process.env.MOCK_BIN, "set MOCK_BIN to the built switchboard-mock-upstream binary");
  mkdirSync(SHOTS, { recursive: true });
  tmp = mkdtempSync(join(tmpdir(), "switchboard-ui-e2e-"));
  const mockPort = await procs.mock();
  mockUrl = `http://127.0.0.1:${mockPort}/v1`;
  const port = await freePort();
  const env = {
    SWITCHBOARD_ADMIN_TOKEN: ADMIN,
    SWITCHBOARD_ACCESS_KEY: ACCESS,
    SWITCHBOARD_MASTER_KEY: "e2e-master-passphrase-not-secret",
    HOME: tmp,
    XDG_CONFIG_HOME: join(tmp, "config"),
    XDG_DATA_HOME: join(tmp, "data"),
    DBUS_SESSION_BUS_ADDRESS: "disabled:",
  };
  const sb = procs.start(process.env.SWITCHBOARD_BIN, ["serve", "--port", String(port), "--data-dir", join(tmp, "sb")], env, "switchboard serve");
  base = `http://127.0.0.1:${port}`;
  await waitFor("switchboard serve", async () => (await fetch(`${base}/health`)).ok);
  // Its stdout is a pipe, not a terminal: the banner names the commands that show the
  // credentials instead of printing them (a pipe is a log).
  const banner = sb.output();
  assert.match(banner, /keys show-admin --data-dir/, "serve names the command that shows the admin token");
  assert.ok(!banner.includes(ADMIN) && !banner.includes(ACCESS), "a piped banner holds no credential");

  context = await chromium.launchPersistentContext(join(tmp, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"],
    viewport: { width: 1360, height: 900 },
    colorScheme: "light",
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) pageErrors.push(m.text());
  });
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
});

after(async () => {
  await context?.close().catch(() => {});
  await procs.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("the dashboard, end to end", async (t) => {
  await t.test("asks for the admin token when it has none", async () => {
    await page.goto(`${base}/`);
    await page.getByText("switchboard keys show-admin").waitFor();
    assert.match(await page.getByLabel("Admin token").getAttribute("placeholder"), /^sbadm-/, "the placeholder shows the real token prefix");
    await page.getByLabel("Admin token").fill("wrong-token");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("alert").getByText("That token was not accepted.").waitFor();
    await shot("token-gate");
  });

  await t.test("opens with the token from the URL fragment and removes it", async () => {
    await page.goto(`${base}/#token=${ADMIN}`);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    assert.equal(new URL(page.url()).hash, "", "the token is gone from the address bar");
    assert.equal(await page.evaluate(() => localStorage.getItem("switchboard.adminToken")), ADMIN);
    await page.getByText("Add your first provider").waitFor();
    await page.getByTestId("endpoint-url").getByText(`${base}/v1`).waitFor();
    // Anthropic and Gemini tools add their own version path: their base URL has no /v1.
    await page.getByTestId("endpoint-url-anthropic").getByText(base, { exact: true }).waitFor();
    await page.getByTestId("endpoint-url-gemini").getByText(base, { exact: true }).waitFor();
    await page.getByRole("button", { name: "Copy the Anthropic base URL" }).waitFor();
    await page.getByTestId("live-pill").getByText("Live").waitFor();
    // The getting-started checklist: nothing done yet, the first step is next.
    const checklist = page.getByTestId("checklist");
    assert.equal(await checklist.locator("li").count(), 5);
    assert.equal(await checklist.locator('li[data-done="true"]').count(), 0);
    await checklist.locator('li.next[data-step="provider"]').getByRole("link", { name: "Add a provider" }).waitFor();
    await shot("overview-empty");
  });

  await t.test("serves HTML with a strict CSP", async () => {
    const resp = await fetch(`${base}/providers`);
    const csp = resp.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe/);
  });

  await t.test("adds a provider from a preset, and two keys", async () => {
    await go("/providers");
    await page.getByText("No providers yet").waitFor();
    await page.getByRole("button", { name: "Add provider" }).first().click();
    const dialog = page.getByRole("dialog", { name: "Add a provider" });
    await dialog.getByRole("button", { name: /Custom OpenAI-compatible/ }).click();
    await dialog.getByLabel("Name").fill("mock");
    await dialog.getByLabel("Base URL").fill(mockUrl);
    await dialog.getByLabel(/API key/).fill("sk-alpha@fault=429,retry_after=30");
    await shot("providers-add-dialog");
    const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/providers") && r.request().method() === "POST");
    await dialog.getByRole("button", { name: "Add provider" }).click();
    assert.equal((await created).status(), 200);
    await dialog.waitFor({ state: "detached" });
    const card = page.locator('[data-provider="mock"]');
    await card.locator('[data-key-label="key 1"]').waitFor();

    await card.getByRole("button", { name: "Add key" }).first().click();
    const keyDialog = page.getByRole("dialog", { name: "Add a key to mock" });
    await keyDialog.getByLabel("Label").fill("beta");
    await keyDialog.getByLabel("API key").fill("sk-beta-0000");
    const added = page.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
    await keyDialog.getByRole("button", { name: "Add key" }).click();
    assert.equal((await added).status(), 200);
    await card.locator('[data-key-label="beta"]').waitFor();
    // Write-only: the secret is never shown, only the last four characters.
    assert.equal(await page.getByText("sk-beta-0000").count(), 0);
    await card.locator('[data-key-label="beta"]').getByText("••••0000").waitFor();

    // The same secret again is refused, naming the key it repeats by its label; after the
    // failed submit the dialog still owns the keyboard (Tab stays in, Escape closes).
    await card.getByRole("button", { name: "Add key" }).first().click();
    await keyDialog.getByLabel("Label").fill("beta again");
    await keyDialog.getByLabel("API key").fill("sk-beta-0000");
    const refused = page.waitForResponse((r) => r.url().endsWith("/api/v1/keys") && r.request().method() === "POST");
    await keyDialog.getByRole("button", { name: "Add key" }).click();
    assert.equal((await refused).status(), 409);
    const why = await keyDialog.getByRole("alert").textContent();
    assert.match(why, /"beta"/, `names the existing key's label: ${why}`);
    assert.doesNotMatch(why, /key \d/, `no internal id: ${why}`);
    for (let i = 0; i < 8; i++) await page.keyboard.press("Tab");
    assert.ok(await keyDialog.evaluate((d) => d.contains(document.activeElement)), "focus stays in the dialog after a failed submit");
    await page.keyboard.press("Escape");
    await keyDialog.waitFor({ state: "detached" });
    const keys = await admin("/api/v1/keys");
    assert.equal(keys.length, 2);
  });

  await t.test("discovers the provider's models", async () => {
    const card = page.locator('[data-provider="mock"]');
    const discovered = page.waitForResponse((r) => r.url().endsWith("/discover"));
    await card.getByRole("button", { name: "Discover models" }).click();
    assert.equal((await discovered).status(), 200);
    await card.getByLabel("Models").locator(".tag").first().waitFor();
    assert.ok((await card.getByLabel("Models").locator(".tag").count()) > 0);
  });

  await t.test("adds pasted keys at once, untested until a test says healthy or revoked, in the provider's words", async () => {
    const card = page.locator('[data-provider="mock"]');
    await card.getByRole("button", { name: "Add key" }).first().click();
    const keyDialog = page.getByRole("dialog", { name: "Add a key to mock" });
    await keyDialog.getByLabel("Label").fill("pasted");
    await keyDialog.getByLabel("API key").fill("sk-pasted-good-1111\n\n  sk-pasted-revoked-2222@fault=401  \n");
    await keyDialog.getByRole("button", { name: "Add 2 keys" }).click();
    await keyDialog.waitFor({ state: "detached" });
    const good = card.locator('[data-key-label="pasted 1"]');
    const revoked = card.locator('[data-key-label="pasted 2"]');
    await good.locator('[data-state="untested"]').waitFor();
    await revoked.locator('[data-state="untested"]').waitFor();
    const tested = page.waitForResponse((r) => /\/api\/v1\/keys\/\d+\/test$/.test(r.url()));
    await good.getByRole("button", { name: "Test pasted 1 now" }).click();
    assert.equal((await tested).status(), 200);
    await good.locator('[data-state="healthy"]').waitFor();
    await revoked.getByRole("button", { name: "Test pasted 2 now" }).click();
    await revoked.locator('[data-state="auth_error"]').waitFor();
    await revoked.getByTestId("key-problem").getByText(/revoked or invalid key/).waitFor();
    await revoked.getByTestId("key-said").getByText(/HTTP 401 · Invalid API key/).waitFor();
    await page.getByText(/“pasted 2”: HTTP 401/).first().waitFor();
    // The provider's own test probes every enabled key.
    const all = page.waitForResponse((r) => r.url().endsWith("/api/v1/providers/mock/test"));
    await card.getByRole("button", { name: "Test connection" }).click();
    assert.equal((await all).status(), 200);
    await shot("providers-keys-tested");
    // Gone again, so the routing below meets the keys it expects.
    for (const k of (await admin("/api/v1/keys")).filter((k) => k.label.startsWith("pasted"))) {
      const r = await fetch(`${base}/api/v1/keys/${k.id}`, { method: "DELETE", headers: { Authorization: `Bearer ${ADMIN}` } });
      assert.equal(r.status, 204);
    }
    // Deleted outside the dashboard: load it again.
    await page.reload();
    await card.locator('[data-key-label="beta"]').waitFor();
    assert.equal(await card.locator('[data-key-label^="pasted"]').count(), 0);
  });

  await t.test("creates an alias and shows its flow", async () => {
    await go("/routes");
    await page.getByText("No routes yet").waitFor();
    await page.getByRole("button", { name: "Create a route" }).click();
    const dialog = page.getByRole("dialog", { name: "New route" });
    await dialog.getByLabel("Alias").fill("gpt-5.5");
    await dialog.getByLabel("Target 1 model").fill("mock-small");
    const saved = page.waitForResponse((r) => r.url().endsWith("/api/v1/routes") && r.request().method() === "POST");
    await dialog.getByRole("button", { name: "Save route" }).click();
    assert.equal((await saved).status(), 200);
    const flow = page.getByTestId("flow-view");
    await flow.getByText("Tried first").waitFor();
    assert.equal(await flow.locator(".flow-step").count(), 2);
    await shot("routes-flow");
  });

  await t.test("streams an answer in the playground, served after a failover", async () => {
    await go("/playground");
    await page.getByTestId("pg-alias").fill("gpt-5.5");
    assert.equal(await page.getByLabel("Client dialect").inputValue(), "openai_chat");
    const resp = page.waitForResponse((r) => r.url().endsWith("/v1/chat/completions"));
    await page.getByRole("button", { name: "Send" }).click();
    const r = await resp;
    assert.equal(r.status(), 200);
    assert.match(r.headers()["content-type"] ?? "", /text\/event-stream/);
    await page.getByTestId("pg-answer").getByText(/Hello from mock model/).waitFor();
    const served = page.getByTestId("pg-served");
    const chain = served.getByTestId("attempt-chain");
    await chain.waitFor();
    assert.equal(await chain.locator("li").count(), 2, "the 429 attempt, then the answer");
    await chain.locator('li[data-outcome]').first().getByText("429").waitFor();
    await served.getByText("beta").first().waitFor();
    await shot("playground-answer");
  });

  await t.test("streams through another client dialect (Anthropic Messages)", async () => {
    await page.getByLabel("Client dialect").selectOption("anthropic");
    const resp = page.waitForResponse((r) => r.url().endsWith("/v1/messages"));
    await page.getByRole("button", { name: "Send" }).click();
    assert.equal((await resp).status(), 200);
    await page.getByTestId("pg-answer").getByText(/Hello from mock model/).waitFor();
    await page.getByTestId("pg-served").getByText("Anthropic Messages").waitFor();
    await page.getByLabel("Client dialect").selectOption("openai_chat");
  });

  await t.test("shows the request in the log with its attempt chain", async () => {
    // Opened right after the requests: the log view flushes the batched writer first, so it
    // lists them (the live feed only carries later requests).
    await go("/requests");
    const rows = page.getByTestId("requests-table").locator("tbody tr");
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2, "both playground requests are logged");
    // The first request failed over: its row carries the attempts badge.
    const row = rows.filter({ has: page.locator('[title="2 attempts"]') });
    await row.getByText("gpt-5.5").waitFor();
    await row.click();
    const detail = page.getByTestId("request-detail");
    const chain = detail.getByTestId("attempt-chain");
    await chain.waitFor();
    assert.equal(await chain.locator("li").count(), 2);
    // The failed attempt says why, in the provider's words, with its reset hint.
    await chain.locator('li[data-outcome="rate_limited"]').getByTestId("attempt-message").getByText(/Rate limit reached for requests/).waitFor();
    await chain.locator('li[data-outcome="rate_limited"]').getByText(/resets in 30/).waitFor();
    await detail.getByText("TTFB").waitFor();
    await shot("requests-detail");

    // The "Errors" filter is one the server understands: no request failed, so none is listed.
    const filtered = page.waitForResponse((r) => r.url().includes("/api/v1/requests?") && r.url().includes("status=error"));
    await page.getByLabel("Status").selectOption("error");
    assert.equal((await filtered).status(), 200);
    await page.waitForFunction(() => !document.querySelector("[aria-busy='true']"));
    assert.equal(await page.getByText("Could not load").count(), 0);
    await page.getByLabel("Status").selectOption("");
  });

  await t.test("shows the rate-limited key cooling on the health board, with a live countdown", async () => {
    await go("/");
    const board = page.getByTestId("health-board");
    const cooling = board.locator('[data-state="cooling"]');
    await cooling.waitFor();
    const first = await cooling.locator("[data-countdown]").textContent();
    assert.match(first ?? "", /^\d+s$/);
    await page.waitForFunction((before) => document.querySelector('[data-state="cooling"] [data-countdown]')?.textContent !== before, first, { timeout: 5000 });
    await board.getByText("rate limited").waitFor();
    // Provider, keys, route and a first request are done; configuring a tool is next.
    const checklist = page.getByTestId("checklist");
    for (const step of ["provider", "keys", "route", "request"]) await checklist.locator(`li[data-step="${step}"][data-done="true"]`).waitFor();
    await checklist.locator('li.next[data-step="tool"]').waitFor();
    assert.equal(await board.locator('[data-state="healthy"]').count(), 1, "the other key stays healthy");
    await shot("overview-cooling");
  });

  await t.test("clears a cooldown, then shows a new one live, without reloading", async () => {
    const board = page.getByTestId("health-board");
    const cooling = board.locator("tr", { has: page.locator('[data-state="cooling"]') });
    const keyId = await cooling.getAttribute("data-key-id");
    const cleared = page.waitForResponse((r) => r.url().endsWith(`/api/v1/keys/${keyId}/clear`));
    await cooling.getByRole("button", { name: /Clear cooldown/ }).click();
    assert.equal((await cleared).status(), 200);
    await board.locator(`tr[data-key-id="${keyId}"] [data-state="healthy"]`).waitFor();
    // A request from outside the dashboard hits the rate-limited key again: the board follows
    // the router's event bus.
    // Outside the dashboard, a tool asks for a model the mock rate-limits on every key: the
    // board follows the router's event bus, without a reload.
    await admin("/api/v1/routes", { method: "POST", body: JSON.stringify({ alias: "limited", targets: [{ provider: "mock", model: "mock-small@fault=429,retry_after=40" }] }) });
    const resp = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ACCESS}`, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "limited", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.notEqual(resp.status, 200, "every key is rate limited");
    await resp.text();
    await board.locator(`tr[data-key-id="${keyId}"] [data-state="cooling"]`).waitFor();
    const beta = board.locator("tr", { hasText: "beta" });
    await beta.locator('[data-state="cooling"]').waitFor();
    await beta.getByText(/model mock-small@fault/).waitFor();
    // The request shows up in the overview's numbers through the live request feed.
    await page.getByText("3 requests · last 30 min").waitFor();
  });

  await t.test("shows a request refused before routing in the log, with why and no secret", async () => {
    const wrong = "sk-wrong-tool-key-0123456789";
    const r = await fetch(`${base}/v1/v1/messages`, { method: "POST", headers: { "x-api-key": wrong, "Content-Type": "application/json" }, body: "{}" });
    assert.equal(r.status, 401);
    await r.text();
    await go("/requests");
    const row = page.getByTestId("requests-table").locator("tbody tr", { has: page.getByTestId("refused") });
    await row.first().waitFor();
    await row.first().getByText("refused · POST /v1/v1/messages").waitFor();
    await row.first().click();
    const detail = page.getByTestId("request-detail");
    await detail.getByTestId("refused-path").getByText("POST /v1/v1/messages").waitFor();
    await detail.getByTestId("request-error").getByText(/wrong access key/).waitFor();
    assert.equal(await page.getByText(wrong).count(), 0, "the presented key is not shown");
    await shot("requests-refused");
    await page.getByRole("button", { name: "Close details" }).click();
    await go("/");
  });

  await t.test("keeps the health-event history across a reload", async () => {
    const events = page.getByTestId("health-events").locator("tbody tr");
    await events.first().waitFor();
    const before = await events.allTextContents();
    await page.reload();
    await events.first().waitFor();
    assert.deepEqual((await events.allTextContents()).slice(0, 3).map((t) => t.replace(/\d+ ?\w+ ago|just now/g, "")), before.slice(0, 3).map((t) => t.replace(/\d+ ?\w+ ago|just now/g, "")));
  });

  await t.test("shows a red banner on every page while routing is off", async () => {
    await page.getByRole("switch", { name: "Routing" }).click();
    const banner = page.getByTestId("routing-off");
    await banner.getByText("Routing is off.").waitFor();
    await go("/providers");
    await banner.waitFor();
    const r = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { Authorization: `Bearer ${ACCESS}`, "Content-Type": "application/json" }, body: JSON.stringify({ model: "gpt-5.5", messages: [] }) });
    assert.equal(r.status, 503);
    await r.text();
    await shot("routing-off-banner");
    await banner.getByRole("button", { name: "Turn routing on" }).click();
    await banner.waitFor({ state: "detached" });
    assert.equal((await admin("/api/v1/status")).routing, true);
    await go("/");
  });

  await t.test("opens on the keys a desktop notification names (deep link in the fragment)", async () => {
    const keys = await admin("/api/v1/keys");
    const beta = keys.find((k) => k.label === "beta");
    const focused = page.locator('tr[data-focused="true"]');
    // Only the fragment changes (the app re-points an open dashboard): no reload.
    await page.goto(`${base}/#token=${ADMIN}&page=keys&focus=${beta.id}`);
    await page.waitForURL((u) => u.pathname === "/providers" && u.search === `?focus=${beta.id}` && u.hash === "");
    await focused.first().waitFor();
    assert.deepEqual(await focused.evaluateAll((rows) => rows.map((r) => r.dataset.keyLabel)), ["beta"]);
    // A full load from another path, naming every key.
    await page.goto(`${base}/usage#token=${ADMIN}&page=keys&focus=${keys.map((k) => k.id).join(",")}`);
    await page.waitForURL((u) => u.pathname === "/providers" && u.hash === "");
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-focused="true"]').length === n, keys.length, { timeout: TIMEOUT });
    await shot("providers-focused-keys");
    await go("/");
  });

  await t.test("with a provider's breaker open, shows the standings and counts of /status after a live update", async () => {
    await go("/");
    const board = page.getByTestId("health-board");
    // Two temporary errors from two keys open a provider's breaker.
    const policy = await admin("/api/v1/settings/cooldowns");
    await admin("/api/v1/settings/cooldowns", { method: "PUT", body: JSON.stringify({ ...policy, breaker_threshold: 2 }) });
    await admin("/api/v1/providers", { method: "POST", body: JSON.stringify({ name: "outage", kind: "openai_chat", base_url: mockUrl }) });
    for (const n of [1, 2]) await admin("/api/v1/keys", { method: "POST", body: JSON.stringify({ provider: "outage", label: `out-${n}`, secret: `sk-out-${n}${n}${n}${n}@fault=500` }) });
    await admin("/api/v1/routes", { method: "POST", body: JSON.stringify({ alias: "outage-alias", targets: [{ provider: "outage", model: "x" }] }) });
    // Set up outside the dashboard: load it again to list the new keys. What follows is live.
    await page.reload();
    const rows = board.locator("tr", { hasText: /out-[12]/ });
    await rows.nth(1).waitFor();
    assert.equal(await rows.locator('[data-state="untested"]').count(), 2, "keys added are untested until used");
    await page.getByTestId("live-pill").getByText("Live").waitFor();
    // A tool, outside the dashboard: both keys answer 500, the breaker opens.
    const resp = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ACCESS}`, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "outage-alias", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(resp.status, 500);
    await resp.text();
    // The board follows the live feed: both keys stand as their provider does.
    for (const label of ["out-1", "out-2"]) {
      const row = board.locator("tr", { hasText: label });
      await row.locator('[data-state="cooling"]').waitFor();
      await row.locator('[data-scope="provider"]').waitFor();
    }
    // Every key's standing and the counts are the router's: the same as the API says.
    const shown = async () =>
      page.evaluate(() => ({
        keys: Object.fromEntries(
          [...document.querySelectorAll('[data-testid="health-board"] tr[data-key-id]')].map((r) => [
            r.getAttribute("data-key-id"),
            { state: r.querySelector("[data-state]")?.getAttribute("data-state"), scope: r.querySelector("[data-scope]")?.getAttribute("data-scope") || null },
          ]),
        ),
        counts: Object.fromEntries(["keys", "healthy", "cooling", "down"].map((c) => [c, Number(document.querySelector(`[data-testid="key-count-${c}"]`)?.textContent)])),
      }));
    const expected = async () => {
      const [keys, status] = await Promise.all([admin("/api/v1/keys"), admin("/api/v1/status")]);
      return {
        keys: Object.fromEntries(keys.map((k) => [String(k.id), { state: k.state, scope: k.scope ?? null }])),
        counts: status.summary.counts,
      };
    };
    // Cooldowns end while this runs (a standing may move on): compare until a read of the
    // board and the API fall between two changes.
    let last;
    await waitFor("the board to agree with the API", async () => {
      const before = await expected();
      const got = await shown();
      const after = await expected();
      last = { got, before, after };
      return JSON.stringify(before) === JSON.stringify(after) && JSON.stringify(got) === JSON.stringify(before);
    }, TIMEOUT).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}`);
    });
    const { counts } = await expected();
    assert.ok(counts.cooling >= 2, JSON.stringify(counts));
    await shot("overview-breaker-open");
    await admin("/api/v1/settings/cooldowns", { method: "PUT", body: JSON.stringify(policy) });
  });

  await t.test("renders a provider named like HTML as inert text", async () => {
    await go("/providers");
    await page.getByRole("button", { name: "Add provider" }).first().click();
    const dialog = page.getByRole("dialog", { name: "Add a provider" });
    await dialog.getByRole("button", { name: /Custom OpenAI-compatible/ }).click();
    await dialog.getByLabel("Name").fill(EVIL);
    await dialog.getByLabel("Base URL").fill(mockUrl);
    await dialog.getByLabel(/API key/).fill("sk-gamma-1111");
    const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/providers") && r.request().method() === "POST");
    await dialog.getByRole("button", { name: "Add provider" }).click();
    assert.equal((await created).status(), 200);
    await dialog.waitFor({ state: "detached" });
    await page.getByTestId("provider-name").getByText(EVIL, { exact: true }).waitFor();
    assert.equal(await page.locator('img[src="x"]').count(), 0, "no <img> element was created");
    // On the health board, in the requests filter and in the route editor too.
    await go("/");
    await page.getByTestId("health-board").getByRole("cell", { name: EVIL, exact: true }).waitFor();
    await go("/requests");
    await page.getByLabel("Provider").locator("option", { hasText: EVIL }).waitFor({ state: "attached" });
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    assert.deepEqual(dialogs, [], "no script ran");
    await go("/providers");
    await shot("providers");
  });

  await t.test("is keyboard accessible: dialogs open with Enter, trap focus, close on Escape", async () => {
    await go("/routes");
    const button = page.getByRole("button", { name: "New route" });
    await button.focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "New route" });
    await dialog.waitFor();
    assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), "focus moved into the dialog");
    for (let i = 0; i < 25; i++) await page.keyboard.press("Tab");
    assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), "focus stays in the dialog");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await button.evaluate((b) => b === document.activeElement), true, "focus returns to the opener");
  });

  await t.test("deletes a key only after confirming", async () => {
    await admin("/api/v1/keys", { method: "POST", body: JSON.stringify({ provider: "mock", label: "spare", secret: "sk-spare-0123456789" }) });
    await go("/providers");
    const row = page.locator('[data-provider="mock"] [data-key-label="spare"]');
    await row.waitFor();
    await row.getByRole("button", { name: "Delete key spare" }).click();
    const confirm = page.getByRole("dialog", { name: "Delete key “spare”?" });
    await confirm.waitFor();
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "detached" });
    assert.ok((await admin("/api/v1/keys")).some((k) => k.label === "spare"), "cancel keeps the key");
    await row.getByRole("button", { name: "Delete key spare" }).click();
    const deleted = page.waitForResponse((r) => /\/api\/v1\/keys\/\d+$/.test(r.url()) && r.request().method() === "DELETE");
    await confirm.getByRole("button", { name: "Delete key", exact: true }).click();
    assert.equal((await deleted).status(), 204);
    await row.waitFor({ state: "detached" });
    assert.ok(!(await admin("/api/v1/keys")).some((k) => k.label === "spare"));

    // A route too.
    await admin("/api/v1/routes", { method: "POST", body: JSON.stringify({ alias: "spare-route", targets: [{ provider: "mock", model: "x" }] }) });
    // Added outside the dashboard: load the page again.
    await page.goto(`${base}/routes`);
    const route = page.locator('tr[data-alias="spare-route"]');
    await route.getByRole("button", { name: "Delete spare-route" }).click();
    const ask = page.getByRole("dialog", { name: "Delete route spare-route?" });
    await page.keyboard.press("Escape");
    await ask.waitFor({ state: "detached" });
    assert.ok((await admin("/api/v1/routes")).some((r) => r.alias === "spare-route"), "Escape keeps the route");
    await route.getByRole("button", { name: "Delete spare-route" }).click();
    await ask.getByRole("button", { name: "Delete route" }).click();
    await route.waitFor({ state: "detached" });
    assert.ok(!(await admin("/api/v1/routes")).some((r) => r.alias === "spare-route"));
  });

  await t.test("the overview counts the whole window on the server, beyond 500 requests", async () => {
    const before = await admin("/api/v1/requests?limit=1000");
    const failover = before.find((r) => r.attempts.length > 1);
    assert.ok(failover, "the playground's first request failed over");
    // 520 more requests: more than the newest page the overview used to count from.
    const send = (i) =>
      fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${ACCESS}`, "Content-Type": "application/json" },
        body: JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: `bulk ${i}` }] }),
      }).then((r) => r.arrayBuffer());
    for (let i = 0; i < 520; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => send(i + j)));
    const total = before.length + 520;
    await page.goto(`${base}/`);
    await waitFor("the server's count", async () => {
      const text = (await page.getByTestId("summary-total").textContent()) ?? "";
      const n = Number(/^(\d+) requests/.exec(text)?.[1] ?? 0);
      return n >= total;
    });
    // The newest failover is listed: the playground's, older than the newest 500 requests —
    // unless its key recovered during the bulk (a slow machine) and a bulk request failed
    // over again, which is then the newest.
    const newest = (await admin("/api/v1/requests?limit=1000")).find((r) => r.attempts.length > 1);
    await page.locator(`[data-request-id="${newest.id}"]`).waitFor();
    assert.ok(Number(await page.getByTestId("failover-count").textContent().then((t) => /\d+/.exec(t)?.[0])) >= 1);
  });

  await t.test("shows a key's announced quota and its balance", async () => {
    const post = (path, body) => admin(path, { method: "POST", body: JSON.stringify(body) });
    await post("/api/v1/providers", { name: "metered", kind: "openai_chat", base_url: mockUrl, balance: { api: "deepseek", min: 1 } });
    await post("/api/v1/keys", { provider: "metered", label: "m1", secret: "sk-metered-e2e@rpm=2,balance=12.50" });
    await post("/api/v1/routes", { alias: "metered-e2e", targets: [{ provider: "metered", model: "mock-small" }] });
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ACCESS}`, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "metered-e2e", messages: [{ role: "user", content: "metered" }] }),
    });
    assert.equal(r.status, 200);
    await go("/providers");
    const card = page.locator('[data-provider="metered"]');
    // The balance is read by the checker within a few seconds of the key being added; the
    // request used one of the two a minute the key announces (full again in 30 s).
    await waitFor("the key's quota and balance", async () => {
      await page.reload();
      await card.waitFor();
      const balance = (await card.getByTestId("key-balance").textContent().catch(() => "")) ?? "";
      return (await card.getByRole("meter", { name: "requests left" }).count()) > 0 && balance.includes("12.5");
    });
    const left = Number(await card.getByRole("meter", { name: "requests left" }).first().getAttribute("aria-valuenow"));
    assert.ok(left >= 50 && left < 100, `${left}% left`);
    await shot("providers-quota");
  });

  await t.test("shows a provider's cache-hit rate and edits its quirks", async () => {
    await go("/providers");
    const card = page.locator('[data-provider="mock"]');
    await card.getByTestId("cache-hit-rate").waitFor();
    assert.match(await card.getByTestId("cache-hit-rate").textContent(), /\d+(\.\d)?% cache hits/);
    await card.getByRole("button", { name: "Edit mock" }).click();
    const dialog = page.getByRole("dialog", { name: "Edit mock" });
    const quirks = dialog.getByRole("group", { name: "Quirks" });
    assert.equal(await quirks.getByLabel("Thinking-safe switching").isChecked(), true, "on by default");
    await quirks.getByLabel("Replay reasoning_content").check();
    const saved = page.waitForResponse((r) => r.url().endsWith("/api/v1/providers/mock") && r.request().method() === "PUT");
    await dialog.getByRole("button", { name: "Save" }).click();
    assert.equal((await saved).status(), 200);
    await dialog.waitFor({ state: "detached" });
    const stored = await admin("/api/v1/providers/mock");
    assert.equal(stored.quirks.replay_reasoning_content, true);
    assert.equal(stored.quirks.strip_foreign_signatures, true);
  });

  await t.test("refuses a provider proxy URL that does not parse, showing the reason, and saves a good one", async () => {
    await go("/providers");
    const card = page.locator('[data-provider="mock"]');
    await card.getByRole("button", { name: "Edit mock" }).click();
    const dialog = page.getByRole("dialog", { name: "Edit mock" });
    const network = dialog.getByRole("group", { name: "Network" });
    await network.locator('select[name="proxy_mode"]').selectOption("url");
    await network.locator('input[name="proxy_url"]').fill("socks5://[::1:1080");
    await dialog.getByRole("button", { name: "Save" }).click();
    const error = dialog.getByRole("alert");
    await error.waitFor();
    assert.match(await error.textContent(), /proxy\.url: is not a URL \(invalid IPv6 address\)/);
    await network.locator('select[name="proxy_mode"]').selectOption("direct");
    await network.locator('input[name="connect_timeout"]').fill("4");
    const saved = page.waitForResponse((r) => r.url().endsWith("/api/v1/providers/mock") && r.request().method() === "PUT");
    await dialog.getByRole("button", { name: "Save" }).click();
    assert.equal((await saved).status(), 200);
    await dialog.waitFor({ state: "detached" });
    const stored = await admin("/api/v1/providers/mock");
    assert.equal(stored.proxy.mode, "direct");
    assert.equal(stored.timeouts.connect_ms, 4000);
    // Back to the global setting for the tests that follow.
    await admin("/api/v1/providers/mock", { method: "PUT", body: JSON.stringify({ ...stored, proxy: null, timeouts: { ...stored.timeouts, connect_ms: 10000 } }) });
  });

  await t.test("adds an alert webhook, shows its secret once and sends a signed test to a receiver", async () => {
    const got = [];
    const receiver = createHttpServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        got.push({ sig: req.headers["x-switchboard-signature"], body });
        res.writeHead(200).end();
      });
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    try {
      await go("/settings");
      const form = page.getByRole("form", { name: "Add a webhook" });
      await form.getByLabel("Name").fill("ops");
      await form.getByLabel("URL").fill(`http://127.0.0.1:${receiver.address().port}/hook/token-in-path`);
      await form.getByRole("button", { name: "Add webhook" }).click();
      const dialog = page.getByRole("dialog", { name: "Webhook added" });
      const secret = (await dialog.getByTestId("signing-secret").textContent()).trim();
      assert.match(secret, /^whsec-/);
      await dialog.getByRole("button", { name: "Done" }).click();
      const table = page.getByRole("table", { name: "Webhooks" });
      await table.getByText("ops").waitFor();
      assert.ok(!(await table.textContent()).includes("token-in-path"), "the URL is not shown back");
      assert.ok(!(await page.content()).includes(secret), "the secret is shown once");
      await table.getByRole("button", { name: "Send a test" }).click();
      await page.getByText("Test alert delivered to ops").waitFor();
      assert.equal(got.length, 1);
      const [, t] = /^t=(\d+),/.exec(got[0].sig);
      const mac = createHmac("sha256", secret).update(`${t}.${got[0].body}`).digest("hex");
      assert.equal(got[0].sig, `t=${t},v1=${mac}`);
      await shot("settings-alerts");
    } finally {
      receiver.close();
    }
  });

  await t.test("prices a model from the table and overrides it for one provider", async () => {
    await go("/settings");
    await page.getByRole("definition").filter({ hasText: "LiteLLM" }).waitFor();
    const form = page.getByRole("form", { name: "Model price" });
    await form.getByLabel("Provider").selectOption("mock");
    await form.getByLabel("Model").fill("mock-small");
    await form.getByRole("button", { name: "Show price" }).click();
    const price = page.getByLabel("Price of mock/mock-small");
    await price.getByText("from the table").waitFor();
    await price.getByLabel("Input").fill("2.5");
    await price.getByLabel("Output").fill("10");
    const saved = page.waitForResponse((r) => r.url().includes("/api/v1/prices/model") && r.request().method() === "PUT");
    await price.getByRole("button", { name: "Save as this provider's price" }).click();
    assert.equal((await saved).status(), 200);
    await price.getByText("provider's own price").waitFor();
    const stored = await admin("/api/v1/prices/model?provider=mock&model=mock-small");
    assert.equal(stored.price.input, 2.5);
    assert.equal(stored.overridden, true);
  });

  await t.test("creates a client, shows its key once, and counts its traffic apart", async () => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    await go("/clients");
    // The access key Switchboard always had is the default client's.
    await page.locator('tr[data-client="default"]').getByText(`…${ACCESS.slice(-4)}`).waitFor();
    await page.getByRole("button", { name: "New client" }).click();
    const dialog = page.getByRole("dialog", { name: "New client" });
    await dialog.getByLabel("Name").fill("e2e-tool");
    await dialog.getByLabel("Daily budget (USD)").fill("5");
    const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/clients") && r.request().method() === "POST");
    await dialog.getByRole("button", { name: "Create client" }).click();
    assert.equal((await created).status(), 200);
    const once = page.getByRole("dialog", { name: "Access key for e2e-tool" });
    const key = ((await once.getByTestId("new-client-key").textContent()) ?? "").trim();
    assert.match(key, /^sk-sb-/);
    await once.getByRole("button", { name: "Copy" }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key, "the key is on the clipboard");
    await shot("clients-key-once");
    await once.getByRole("button", { name: "Done" }).click();
    await once.waitFor({ state: "detached" });
    const row = page.locator('tr[data-client="e2e-tool"]');
    await row.getByText(`…${key.slice(-4)}`).waitFor();
    assert.equal(await page.getByText(key).count(), 0, "the key is not shown again");
    assert.ok(!JSON.stringify(await admin("/api/v1/clients")).includes(key), "nor served again");
    await row.getByRole("meter", { name: "Today spend" }).waitFor();

    // Traffic with the client's key is counted as the client's, and priced ($1000 and $2000
    // per million input and output tokens).
    await admin("/api/v1/prices/model?provider=mock&model=mock-small", { method: "PUT", body: JSON.stringify({ input: 1000, output: 2000 }) });
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: JSON.stringify({ model: "gpt-5.5", messages: [{ role: "user", content: `from the client ${i}` }] }),
      });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    await go("/usage");
    await page.getByRole("group", { name: "Group by" }).getByRole("button", { name: "Client" }).click();
    const tokens = page.locator("section.card", { hasText: "Tokens per day" });
    await tokens.locator(".legend").getByText("e2e-tool").waitFor();
    await tokens.locator(".legend").getByText("default").waitFor();
    const spend = page.getByTestId("spend-chart");
    await spend.locator(".legend").getByText("e2e-tool").waitFor();
    await spend.locator("svg").waitFor();
    const spent = (await admin("/api/v1/clients/e2e-tool")).spent_today_usd;
    assert.ok(spent > 0, `the client's spend is counted: ${spent}`);
    assert.notEqual(await page.getByTestId("usage-cost").textContent(), "$0");
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Export CSV" }).click();
    const csv = await (await download).createReadStream().then(
      (s) => new Promise((res) => {
        let text = "";
        s.on("data", (d) => (text += d));
        s.on("end", () => res(text));
      }),
    );
    assert.match(csv, /^day,group,requests,/);
    assert.match(csv, /,e2e-tool,3,0,/);
    await shot("usage-by-client");
    // And on the Clients page, against its daily budget.
    await page.goto(`${base}/clients`);
    const money = spent < 0.01 ? spent.toFixed(4) : spent.toFixed(2);
    await page.locator('tr[data-client="e2e-tool"]').getByText(`Today: $${money} of $5.00`).waitFor();
    await shot("clients-spend");

    await go("/requests");
    const listed = page.waitForResponse((r) => r.url().includes("/api/v1/requests?") && r.url().includes("client=e2e-tool"));
    await page.getByLabel("Client").selectOption("e2e-tool");
    assert.equal((await listed).status(), 200);
    const rows = page.getByTestId("requests-table").locator("tbody tr");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=requests-table] tbody tr").length === 3);
    assert.equal(await rows.count(), 3);
    await page.getByLabel("Client").selectOption("");
  });

  await t.test("usage over a day counts per hour, and each key's 429s and 5xx, also when another key served", async () => {
    await page.goto(`${base}/usage?days=1`);
    await page.getByText("Requests per hour", { exact: true }).first().waitFor();
    const keys = await admin("/api/v1/keys");
    const alpha = keys.find((k) => k.provider === "mock" && k.label === "key 1");
    const out = keys.find((k) => k.label === "out-1");
    const table = page.getByTestId("key-outcomes");
    const cell = (k, col) => table.locator(`tr[data-key-id="${k.id}"] [data-col="${col}"]`).textContent();
    // The rate-limited key failed before beta served: its 429s count although no request
    // it was tried for failed.
    assert.match(await cell(alpha, "429"), /^[1-9]/);
    assert.match(await cell(out, "5xx"), /^[1-9]/);
    await shot("usage-hourly");
  });

  await t.test("captures a translated request: the client/upstream diff, replayed in the Playground", async () => {
    await go("/requests");
    const control = page.getByTestId("capture-control");
    await control.getByLabel("Capture scope").selectOption("gpt-5.5");
    const started = page.waitForResponse((r) => r.url().endsWith("/api/v1/inspector/capture") && r.request().method() === "POST");
    await control.getByRole("button", { name: "Capture" }).click();
    assert.equal((await started).status(), 200);
    await control.getByText(/Capturing gpt-5\.5/).waitFor();
    // A tool speaking Anthropic Messages, streamed, translated for the OpenAI-compatible mock.
    const r = await fetch(`${base}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": ACCESS, "anthropic-version": "2023-06-01", "Content-Type": "application/json" },
      body: JSON.stringify({ model: "gpt-5.5", stream: true, max_tokens: 64, messages: [{ role: "user", content: "inspect me" }] }),
    });
    assert.equal(r.status, 200);
    await r.text();
    const captured = await admin("/api/v1/captures");
    assert.equal(captured.length, 1, "only the request of the captured route");
    const id = captured[0].request_id;
    await page.goto(`${base}/requests?id=${id}`);
    const capture = page.getByTestId("capture");
    await capture.waitFor();
    // The client's body against the upstream's: the alias became the target's model.
    const diff = capture.getByTestId("capture-diff");
    await diff.locator(".diff-del", { hasText: /"model": "gpt-5\.5"/ }).waitFor();
    await diff.locator(".diff-add", { hasText: /"model": "mock-small"/ }).waitFor();
    await diff.locator(".diff-add", { hasText: /"stream_options"/ }).waitFor();
    const timeline = capture.getByTestId("event-timeline");
    await timeline.first().waitFor();
    await capture.getByText("message_stop").first().waitFor();
    assert.equal(await page.getByText(ACCESS).count(), 0, "no access key on the page");
    await shot("requests-capture");
    await capture.getByRole("button", { name: "Replay in Playground" }).click();
    await page.waitForURL((u) => u.pathname === "/playground");
    assert.match(await page.getByTestId("pg-replay-body").inputValue(), /inspect me/);
    assert.equal(await page.getByLabel("Client dialect").inputValue(), "anthropic");
    const replayed = page.waitForResponse((r) => r.url().endsWith("/v1/messages"));
    await page.getByRole("button", { name: "Send" }).click();
    assert.equal((await replayed).status(), 200);
    await page.getByTestId("pg-answer").getByText(/Hello from mock model/).waitFor();
    await shot("playground-replay");
    await page.getByRole("button", { name: "Write a prompt instead" }).click();
    await page.getByLabel("Client dialect").selectOption("openai_chat");
    await go("/requests");
    await page.getByRole("button", { name: "Stop capturing gpt-5.5" }).click();
    await page.getByTestId("capture-control").getByText(/Capturing/).waitFor({ state: "detached" });
  });

  await t.test("fits the screen at 1280 px and at 390 px", async () => {
    const noPageOverflow = async (where) => {
      const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      assert.ok(scroll <= width, `${where}: the page scrolls sideways (${scroll} > ${width})`);
    };
    const inside = async (locator, what) => {
      const box = await locator.boundingBox();
      const vw = page.viewportSize().width;
      assert.ok(box && box.x >= 0 && box.x + box.width <= vw + 0.5, `${what} is off-screen: ${JSON.stringify(box)} in ${vw}`);
    };
    await page.setViewportSize({ width: 1280, height: 800 });
    await go("/");
    const failovers = page.locator("table.failovers");
    await failovers.waitFor();
    // Status and time of every recent failover stay inside the card.
    const card = failovers.locator("xpath=ancestor::section[contains(@class,'card')]");
    const cardBox = await card.boundingBox();
    for (const cell of await failovers.locator("td.num").all()) {
      const b = await cell.boundingBox();
      assert.ok(b.x + b.width <= cardBox.x + cardBox.width + 0.5, "a failover's status or time is cut off");
    }
    await noPageOverflow("overview at 1280 px");
    await go("/requests");
    const table = page.getByTestId("requests-table");
    await table.locator("tbody tr").first().waitFor();
    assert.equal(await page.getByTestId("request-detail").count(), 0, "no empty detail panel without a selection");
    await inside(table.getByRole("columnheader", { name: "Tokens" }), "the Tokens column");
    const wrap = table.locator("xpath=ancestor::div[contains(@class,'table-wrap')]").first();
    assert.ok(await wrap.evaluate((w) => w.scrollWidth <= w.clientWidth), "the requests table fits without scrolling");

    const every = [["/", "overview"], ["/providers", "providers"], ["/routes", "routes"], ["/playground", "playground"], ["/requests", "requests"], ["/clients", "clients"], ["/usage", "usage"], ["/integrations", "integrations"], ["/settings", "settings"]];
    for (const [path, name] of every) {
      await go(path);
      await page.getByRole("heading", { level: 1 }).first().waitFor();
      await noPageOverflow(`${path} at 1280 px`);
      await shot(`${name}-1280x800`);
    }
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [path, name] of every) {
      await go(path);
      await page.getByRole("heading", { level: 1 }).first().waitFor();
      await noPageOverflow(`${path} at 390 px`);
      await inside(page.getByRole("heading", { level: 1 }).first(), `the heading of ${path}`);
      await shot(`${name}-390x844`);
    }
    // The key tables fit without sideways scrolling, each key's state on screen.
    await go("/");
    const board = page.getByTestId("health-board");
    assert.ok(await board.evaluate((t) => t.parentElement.scrollWidth <= t.parentElement.clientWidth), "the Key health table fits at 390 px");
    for (const state of await board.locator("tbody tr [data-state]").all()) await inside(state, "a key's state on the health board");
    await inside(board.locator("tbody tr").first().getByRole("button").first(), "a key's action on the health board");
    await go("/providers");
    const keysTable = page.locator(".keys-table").first();
    assert.ok(await keysTable.evaluate((t) => t.parentElement.scrollWidth <= t.parentElement.clientWidth), "a provider's key table fits at 390 px");
    await inside(keysTable.locator("tbody tr [data-state]").first(), "a key's state on the providers page");
    await inside(page.getByRole("button", { name: "Add key" }).first(), "Add key");
    await go("/");
    const url = page.getByTestId("endpoint-url");
    assert.ok(await url.evaluate((e) => e.scrollWidth <= e.clientWidth), "the whole endpoint URL is shown");
    await inside(page.getByRole("switch", { name: "Routing" }), "the routing switch");
    await go("/requests");
    await page.getByTestId("requests-table").locator("tbody tr").first().click();
    const detail = page.getByTestId("request-detail");
    await detail.waitFor();
    const box = await detail.boundingBox();
    assert.ok(box.y < 844, `the detail opens on screen, not ${Math.round(box.y)} px down`);
    await inside(page.getByRole("button", { name: "Close details" }), "the close button of the detail");
    await shot("requests-detail-390px");
    await page.getByRole("button", { name: "Close details" }).click();
    await go("/");
    await shot("overview-390px");
    await page.setViewportSize({ width: 1360, height: 900 });
  });

  await t.test("screenshots every page in light and dark", async () => {
    const pages = ["/", "/providers", "/routes", "/playground", "/requests", "/clients", "/usage", "/integrations", "/settings"];
    const names = ["overview", "providers", "routes", "playground", "requests", "clients", "usage", "integrations", "settings"];
    for (const theme of ["light", "dark"]) {
      if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== theme) await page.getByTestId("theme-toggle").click();
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme);
      for (let i = 0; i < pages.length; i++) {
        await go(pages[i]);
        await page.getByRole("heading", { level: 1 }).first().waitFor();
        await shot(names[i]);
      }
    }
    // The desktop window is 900 px wide.
    await page.setViewportSize({ width: 900, height: 700 });
    await go("/");
    await shot("overview-900px");
    await go("/requests");
    await shot("requests-900px");
    await page.setViewportSize({ width: 1360, height: 900 });
  });

  await t.test("theme choice persists across reloads", async () => {
    const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  // Toasts would cover the page: dismiss them.
  for (const b of await page.locator(".toast button").all()) await b.click().catch(() => {});
    await page.reload();
    await page.getByRole("heading", { level: 1 }).first().waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme);
  });

  await t.test("every icon-only button has a label and a tooltip", async () => {
    for (const path of ["/", "/providers", "/routes", "/requests", "/clients", "/settings"]) {
      await go(path);
      await page.getByRole("heading", { level: 1 }).first().waitFor();
      await page.waitForFunction(() => !document.querySelector("[aria-busy='true']"), null, { timeout: TIMEOUT });
      const bare = await page.evaluate(() =>
        [...document.querySelectorAll("main button")]
          .filter((b) => !(b.textContent ?? "").trim())
          .filter((b) => !b.getAttribute("aria-label") || (!b.getAttribute("title") && b.getAttribute("role") !== "switch"))
          .map((b) => b.outerHTML.slice(0, 120)),
      );
      assert.deepEqual(bare, [], `${path}: icon-only buttons without a label or tooltip`);
    }
  });

  await t.test("no script errors or CSP violations", () => {
    assert.deepEqual(pageErrors, []);
  });
});
