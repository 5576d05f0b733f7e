import { describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { DiffView } from "./DiffView";
import { ExportImport } from "./ExportImport";

const calls: string[] = [];
const bodies: unknown[] = [];
let reply: unknown = null;
vi.mock("../api/client", () => ({
  api: {
    POST: async (path: string, init: { body: unknown }) => {
      calls.push(path);
      bodies.push(init.body);
      return { data: reply, response: new Response(null, { status: 200 }) };
    },
  },
  must: async (p: Promise<{ data: unknown }>) => (await p).data,
}));

describe("DiffView", () => {
  it("colors added and removed lines and renders markup as text", () => {
    render(<DiffView diff={'--- a\n+++ a\n@@ -1 +1 @@\n-old\n+"<img src=x onerror=alert(1)>"\n same\n'} />);
    const rows = screen.getByLabelText("Changes").querySelectorAll("div");
    expect([...rows].map((r) => r.className)).toEqual(["diff-file", "diff-file", "diff-hunk", "diff-del", "diff-add", ""]);
    expect(document.querySelector("img")).toBeNull();
    expect(rows[4].textContent).toContain("<img");
  });
});

describe("ExportImport", () => {
  it("previews an import before applying it", async () => {
    const plan = {
      providers: [{ name: "deepseek", change: "added", fields: [] }],
      keys: [{ provider: "deepseek", label: "main", last4: "aaaa", change: "needs_secret", fields: [] }],
      routes: [
        { name: "gpt-5.5", change: "changed", fields: ["targets"] },
        { name: "mine", change: "kept", fields: [] },
      ],
      settings: [{ name: "settings", change: "unchanged", fields: [] }],
    };
    reply = plan;
    render(<ExportImport />);
    fireEvent.change(screen.getByLabelText("Export to import"), { target: { value: "sbx1.abc" } });
    fireEvent.click(screen.getByText("Preview import"));
    const dialog = await screen.findByRole("dialog");
    expect(calls).toEqual(["/api/v1/config/import/plan"]);
    expect(within(dialog).getByText("Needs its key")).toBeTruthy();
    expect(within(dialog).getByText("targets")).toBeTruthy();
    expect(within(dialog).getByText("Kept")).toBeTruthy();
    fireEvent.click(within(dialog).getByText("Apply 2 change(s)"));
    await waitFor(() => expect(calls).toEqual(["/api/v1/config/import/plan", "/api/v1/config/import/apply"]));
  });
});

describe("ExportImport host changes", () => {
  it("names every provider pointed at another server and applies only after the user accepts", async () => {
    calls.length = 0;
    bodies.length = 0;
    reply = {
      providers: [{ name: "deepseek", change: "changed", fields: ["base_url"] }],
      keys: [],
      routes: [],
      settings: [],
      host_changes: [{ provider: "deepseek", from: "https://api.deepseek.com", to: "https://evil.example" }],
    };
    render(<ExportImport />);
    fireEvent.change(screen.getByLabelText("Export to import"), { target: { value: "sbx1.abc" } });
    fireEvent.click(screen.getByText("Preview import"));
    const dialog = await screen.findByRole("dialog");
    const alert = within(dialog).getByLabelText("New provider hosts");
    expect(alert.textContent).toContain("https://api.deepseek.com → https://evil.example");
    const apply = within(dialog).getByText("Apply 1 change(s)").closest("button")!;
    expect(apply.disabled).toBe(true);
    fireEvent.click(within(alert).getByRole("checkbox"));
    expect(apply.disabled).toBe(false);
    fireEvent.click(apply);
    await waitFor(() => expect(calls).toEqual(["/api/v1/config/import/plan", "/api/v1/config/import/apply"]));
    expect(bodies[1]).toMatchObject({ data: "sbx1.abc", accept_new_hosts: true });
  });

  it("keeps the passphrase placeholder short enough to show whole", () => {
    render(<ExportImport />);
    const pass = screen.getByLabelText("Import passphrase") as HTMLInputElement;
    expect(pass.placeholder).toBe("Passphrase");
    expect(pass.title).toMatch(/if it includes keys/);
  });
});
