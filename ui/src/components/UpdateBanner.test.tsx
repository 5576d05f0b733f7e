import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { resetQueries } from "../lib/query";
import { ToastProvider } from "./Toasts";
import { UpdateBanner } from "./UpdateBanner";

const calls: string[] = [];
let status: Record<string, unknown> = {};
let installStatus = 202;
vi.mock("../api/client", () => ({
  api: {
    GET: async (path: string) => {
      calls.push(`GET ${path}`);
      return { data: status, response: new Response(null, { status: 200 }) };
    },
    POST: async (path: string) => {
      calls.push(`POST ${path}`);
      if (installStatus !== 202) return { error: { error: { message: "no verified update is waiting" } }, response: new Response(null, { status: installStatus }) };
      return { data: { version: "9.9.9" }, response: new Response(null, { status: 202 }) };
    },
  },
  must: async (p: Promise<{ data?: unknown; error?: { error: { message: string } } }>) => {
    const r = await p;
    if (r.error) throw new Error(r.error.error.message);
    return r.data;
  },
}));

function show() {
  return render(
    <ToastProvider>
      <UpdateBanner />
    </ToastProvider>,
  );
}

describe("UpdateBanner", () => {
  beforeEach(() => {
    calls.length = 0;
    installStatus = 202;
    resetQueries();
  });

  it("shows nothing when no update is announced", async () => {
    status = { update: null };
    show();
    await waitFor(() => expect(calls).toContain("GET /api/v1/status"));
    expect(screen.queryByTestId("update-banner")).toBeNull();
  });

  it("announces the verified version and installs on confirmation", async () => {
    status = { update: { version: "9.9.9", notes: "<b>faster</b>" } };
    show();
    const banner = await screen.findByTestId("update-banner");
    expect(banner.textContent).toContain("Switchboard 9.9.9 is available");
    expect(banner.querySelector("b")).toBeNull();
    expect(banner.textContent).toContain("<b>faster</b>");
    expect(calls.filter((c) => c.startsWith("POST"))).toEqual([]);
    fireEvent.click(screen.getByText("Install and restart"));
    await waitFor(() => expect(calls).toContain("POST /api/v1/update/install"));
    expect(await screen.findByText("Installing…")).toBeTruthy();
  });

  it("says why an install was refused and lets the user try again", async () => {
    status = { update: { version: "9.9.9", notes: null } };
    installStatus = 409;
    show();
    fireEvent.click(await screen.findByText("Install and restart"));
    expect(await screen.findByText(/no verified update is waiting/)).toBeTruthy();
    expect((screen.getByText("Install and restart").closest("button") as HTMLButtonElement).disabled).toBe(false);
  });

  it("re-reads the status when the window gets focus", async () => {
    status = { update: null };
    show();
    await waitFor(() => expect(calls.filter((c) => c === "GET /api/v1/status")).toHaveLength(1));
    status = { update: { version: "9.9.10", notes: null } };
    fireEvent.focus(window);
    expect((await screen.findByTestId("update-banner")).textContent).toContain("9.9.10");
  });
});
