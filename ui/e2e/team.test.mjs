// End-to-end, team mode: three `switchboard serve --database …` on one PostgreSQL
// (SWITCHBOARD_TEST_DATABASE_URL, from scripts/services.sh); requests sent through instances
// one and three appear on instance two's dashboard, naming them (live too, and filtered by
// instance), and its Instances page lists all three, then one killed as stale. Needs
// SWITCHBOARD_BIN and MOCK_BIN (built binaries); builds nothing.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { Processes, freePort, waitFor } from "./processes.mjs";

const ADMIN = "sb-admin-e2e-team-0123456789abcdef";
const ACCESS = "sk-sb-e2e-team-access-0123456789";
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const TIMEOUT = 20_000;
const IDS = ["one", "two", "three"];

const procs = new Processes();
const bases = {};
let tmp;
let context;
let page;

async function admin(id, path, body) {
  const resp = await fetch(bases[id] + path, {
    method: body ? "POST" : "GET",
    headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(resp.ok, `${path}: ${resp.status} ${await resp.clone().text()}`);
  return resp.json();
}

async function chat(id) {
  const resp = await fetch(`${bases[id]}/v1/chat/completions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ACCESS}`, "Content-Type": "application/json" },
    body: JSON.stringify({ model: "team-model", messages: [{ role: "user", content: `hello from ${id}` }] }),
  });
  return resp.status;
}

before(async () => {
  assert.ok(process.env.SWITCHBOARD_BIN, "set SWITCHBOARD_BIN to the built switchboard binary");
  assert.ok(process.env.MOCK_BIN, "set MOCK_BIN to the built switchboard-mock-upstream binary");
  const database = process.env.SWITCHBOARD_TEST_DATABASE_URL;
  assert.ok(database, "run under scripts/services.sh (SWITCHBOARD_TEST_DATABASE_URL)");
  tmp = mkdtempSync(join(tmpdir(), "switchboard-ui-team-"));
  const mockPort = await procs.mock();
  for (const id of IDS) {
    const port = await freePort();
    const env = {
      SWITCHBOARD_ADMIN_TOKEN: ADMIN,
      SWITCHBOARD_ACCESS_KEY: ACCESS,
      SWITCHBOARD_MASTER_KEY: "e2e-team-master-passphrase-not-secret",
      SWITCHBOARD_INSTANCE_ID: id,
      HOME: join(tmp, id),
      XDG_CONFIG_HOME: join(tmp, id, "config"),
      XDG_DATA_HOME: join(tmp, id, "data"),
      DBUS_SESSION_BUS_ADDRESS: "disabled:",
    };
    procs.start(process.env.SWITCHBOARD_BIN, ["serve", "--port", String(port), "--data-dir", join(tmp, id, "sb"), "--database", database], env, `switchboard serve (${id})`);
    bases[id] = `http://127.0.0.1:${port}`;
    await waitFor(`switchboard serve (${id})`, async () => (await fetch(`${bases[id]}/health`)).ok);
  }
  await admin("one", "/api/v1/providers", { name: "shared", kind: "openai_chat", base_url: `http://127.0.0.1:${mockPort}/v1` });
  await admin("one", "/api/v1/keys", { provider: "shared", label: "k", secret: "sk-team-shared-0123456789" });
  await admin("one", "/api/v1/routes", { alias: "team-model", targets: [{ provider: "shared", model: "m" }] });
  for (const id of ["one", "three"]) await waitFor(`the route on instance ${id}`, async () => (await chat(id)) === 200);
  // The log is written in batches: wait until instance two's log has both.
  await waitFor("both requests in instance two's log", async () => {
    const served = (await admin("two", "/api/v1/requests?limit=100")).map((r) => r.instance);
    return served.includes("one") && served.includes("three");
  });

  context = await chromium.launchPersistentContext(join(tmp, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"],
    viewport: { width: 1360, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
});

after(async () => {
  await context?.close().catch(() => {});
  await procs.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("instance two's dashboard shows the whole team", async (t) => {
  await t.test("lists the requests served by instances one and three, naming them", async () => {
    await page.goto(`${bases.two}/requests#token=${ADMIN}`);
    await page.getByRole("heading", { name: "Requests" }).waitFor();
    const cells = page.getByTestId("request-row-instance");
    await cells.filter({ hasText: "one" }).first().waitFor();
    await cells.filter({ hasText: "three" }).first().waitFor();
    await page.locator("tr[data-request-id]").filter({ has: cells.filter({ hasText: "three" }) }).first().click();
    await page.getByTestId("request-instance").getByText("three", { exact: true }).waitFor();
  });

  await t.test("shows a request served by instance one as it happens", async () => {
    await page.goto(`${bases.two}/requests#token=${ADMIN}`);
    await page.getByRole("heading", { name: "Requests" }).waitFor();
    const fromOne = page.getByTestId("request-row-instance").filter({ hasText: "one" });
    await fromOne.first().waitFor();
    const before = await fromOne.count();
    assert.equal(await chat("one"), 200);
    // No reload: the live feed of instance two brings it.
    await waitFor("instance one's new request on instance two's page", async () => (await fromOne.count()) === before + 1);
  });

  await t.test("filters the requests by instance", async () => {
    await page.getByRole("combobox", { name: "Instance" }).selectOption("three");
    await waitFor("only instance three's requests", async () => {
      const shown = await page.getByTestId("request-row-instance").allInnerTexts();
      return shown.length > 0 && shown.every((s) => s.trim() === "three");
    });
    assert.match(page.url(), /[?&]instance=three/);
    await page.getByRole("button", { name: "Clear filters" }).click();
    await page.getByTestId("request-row-instance").filter({ hasText: "one" }).first().waitFor();
  });

  await t.test("shows three alive instances, itself marked", async () => {
    await page.getByRole("navigation", { name: "Main" }).locator('a[href="/instances"]').click();
    await page.getByRole("heading", { name: "Instances", exact: true }).waitFor();
    await waitFor("three instance rows", async () => (await page.getByTestId("instance-row").count()) === 3);
    for (const id of IDS) {
      const row = page.locator(`tr[data-instance="${id}"]`);
      await row.getByText("alive", { exact: true }).waitFor();
      await row.getByText(bases[id].replace("http://", ""), { exact: true }).waitFor();
    }
    await page.locator('tr[data-instance="two"]').getByText("this instance").waitFor();
    assert.equal(await page.getByText("this instance").count(), 1);
  });

  await t.test("shows an instance that stopped beating as stale", async () => {
    const three = procs.list.find((p) => p.spawnargs.includes(bases.three.split(":").pop()));
    assert.ok(three, "instance three's process");
    const gone = new Promise((r) => three.once("exit", r));
    three.kill("SIGKILL");
    await gone;
    // Three heartbeats (5 s each) missed, then the page's next read.
    const row = page.locator('tr[data-instance="three"]');
    await waitFor("instance three shown as stale", async () => (await row.getByTestId("instance-stale").count()) === 1, 60_000);
    await row.getByText("stale", { exact: true }).waitFor();
    await row.getByText(/missed \d+ heartbeats · removed in 23h/).waitFor();
    await page.locator('tr[data-instance="one"]').getByText("alive", { exact: true }).waitFor();
  });
});
