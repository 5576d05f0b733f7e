import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { resetQueries } from "../lib/query";
import { ToastProvider } from "./Toasts";
import { CapturePanel } from "./Inspector";
import type { CaptureView } from "../api/types";

const view: CaptureView = {
  capture: {
    request_id: "R1",
    started_at_ms: 0,
    captured_at_ms: 0,
    dialect: "anthropic",
    model: "fast",
    stream: true,
    client_request: { method: "POST", url: "/v1/messages", headers: [], body: '{"model":"fast","stream":true}', truncated: false, at_ms: 0 },
    attempts: [
      {
        provider: "bad",
        model: "gpt-x",
        key_id: 1,
        committed: false,
        request: { url: "https://bad/chat/completions", headers: [{ name: "authorization", value: "[redacted]" }], body: '{"model":"gpt-x"}', truncated: false, at_ms: 1 },
        response: { status: 429, headers: [], body: '{"error":"slow down"}', truncated: false, at_ms: 5 },
      },
      {
        provider: "good",
        model: "gpt-y",
        key_id: 2,
        committed: true,
        request: { url: "https://good/chat/completions", headers: [], body: '{"model":"gpt-y","stream":true}', truncated: false, at_ms: 6 },
        response: { status: 200, headers: [], events: [{ at_ms: 9, data: '{"choices":[]}' }, { at_ms: 12, data: "[DONE]" }], truncated: false, at_ms: 8 },
      },
    ],
    client_response: { status: 200, headers: [], events: [{ at_ms: 10, event: "message_start", data: "{}" }], truncated: true, at_ms: 10 },
  },
  replay: { dialect: "anthropic", path: "/v1/messages", body: '{"model":"fast","stream":true}', curl: "curl … $SWITCHBOARD_ACCESS_KEY" },
};

vi.mock("../api/client", () => ({
  api: { GET: async () => ({ data: view, response: new Response(null, { status: 200 }) }) },
  must: async (p: Promise<{ data?: unknown }>) => (await p).data,
  errorMessage: (e: unknown) => String(e),
}));

describe("CapturePanel", () => {
  beforeEach(() => resetQueries());

  it("opens on the attempt that served, diffs it against the client's request, and shows streams as timelines", async () => {
    render(
      <ToastProvider>
        <CapturePanel requestId="R1" />
      </ToastProvider>,
    );
    const diff = await screen.findByTestId("capture-diff");
    expect(diff.textContent).toContain("upstream request (good)");
    expect(diff.querySelector(".diff-del")?.textContent).toContain('"model": "fast"');
    expect([...diff.querySelectorAll(".diff-add")].map((e) => e.textContent)).toContain('+  "model": "gpt-y",');
    const timelines = screen.getAllByTestId("event-timeline");
    expect(timelines).toHaveLength(2);
    expect(timelines[0].textContent).toContain("+12 ms");
    expect(screen.getByText(/cut at the size cap/)).toBeTruthy();
    // The failed attempt can be picked: its answer is a whole body.
    fireEvent.change(screen.getByLabelText("Attempt"), { target: { value: "0" } });
    await waitFor(() => expect(screen.getByTestId("capture-diff").textContent).toContain("upstream request (bad)"));
    expect(screen.getByLabelText("Upstream response").textContent).toContain('"error": "slow down"');
  });
});
