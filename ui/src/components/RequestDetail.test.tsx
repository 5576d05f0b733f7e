import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { RequestDetail } from "./RequestDetail";
import type { RequestRecord } from "../api/types";

const record = (affinity: string | null): RequestRecord => ({
  id: "r1",
  started_at_ms: 0,
  dialect: "anthropic",
  alias: "m",
  provider: "p2",
  key_id: 2,
  upstream_model: "y",
  status: 200,
  stream: false,
  latency_ms: 10,
  ttfb_ms: 5,
  tokens_in: 10,
  tokens_out: 5,
  tokens_cached: 0,
  tokens_reasoning: 0,
  error: null,
  affinity,
  attempts: [],
});

describe("RequestDetail", () => {
  it("says whether affinity kept or moved the conversation", () => {
    const { unmount } = render(<RequestDetail r={record("moved: cooling")} />);
    expect(screen.getByTestId("request-affinity").textContent).toBe("Moved: cooling");
    unmount();
    render(<RequestDetail r={record("kept")} />);
    expect(screen.getByTestId("request-affinity").textContent).toBe("Kept on its provider and key");
  });

  it("says nothing for a new conversation", () => {
    render(<RequestDetail r={record(null)} />);
    expect(screen.queryByTestId("request-affinity")).toBeNull();
  });

  it("names the instance that served the request, when the record has one", () => {
    const { unmount } = render(<RequestDetail r={{ ...record(null), instance: "sb-eu-1" }} />);
    expect(screen.getByTestId("request-instance").textContent).toBe("sb-eu-1");
    unmount();
    render(<RequestDetail r={record(null)} />);
    expect(screen.queryByTestId("request-instance")).toBeNull();
  });

  it("shows the audio and images of a media request, and nothing for a chat", () => {
    const { unmount } = render(<RequestDetail r={{ ...record(null), audio_ms: 95_000, images: 2 }} />);
    expect(screen.getByTestId("request-audio").textContent).toBe("1m 35s");
    expect(screen.getByTestId("request-images").textContent).toBe("2");
    unmount();
    render(<RequestDetail r={record(null)} />);
    expect(screen.queryByTestId("request-audio")).toBeNull();
    expect(screen.queryByTestId("request-images")).toBeNull();
  });
});
