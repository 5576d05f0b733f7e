import { beforeEach, describe, expect, it, vi } from "vitest";
import { act, render, screen, waitFor } from "@testing-library/react";
import { resetQueries } from "../lib/query";
import { DEGRADED_RECHECK_MS, DegradedBanner } from "./DegradedBanner";

let status: Record<string, unknown> = {};
let reads = 0;
vi.mock("../api/client", () => ({
  api: {
    GET: async () => {
      reads += 1;
      return { data: status, response: new Response(null, { status: 200 }) };
    },
  },
  must: async (p: Promise<{ data?: unknown }>) => (await p).data,
}));

const healthy = { database: "ok", redis: "ok", request_log_waiting: 0, request_log_dropped: 0 };

describe("DegradedBanner", () => {
  beforeEach(() => {
    reads = 0;
    resetQueries();
    vi.useRealTimers();
  });

  it("shows nothing while the database and Redis answer and nothing was dropped", async () => {
    status = healthy;
    render(<DegradedBanner />);
    await waitFor(() => expect(reads).toBe(1));
    expect(screen.queryByTestId("degraded-banner")).toBeNull();
  });

  it("says what still works while the database is unreachable", async () => {
    status = { ...healthy, database: "unreachable", request_log_waiting: 42 };
    render(<DegradedBanner />);
    const text = (await screen.findByTestId("degraded-database")).textContent ?? "";
    expect(text).toContain("The shared database is unreachable.");
    expect(text).toContain("42 waiting");
    expect(text).toContain("Changes are refused");
    expect(screen.queryByTestId("degraded-redis")).toBeNull();
  });

  it("names Redis and the dropped records", async () => {
    status = { ...healthy, redis: "unreachable", request_log_dropped: 3 };
    render(<DegradedBanner />);
    expect((await screen.findByTestId("degraded-redis")).textContent).toContain("Redis is unreachable.");
    expect(screen.getByTestId("degraded-dropped").textContent).toContain("3 request records were dropped");
    expect(screen.queryByTestId("degraded-database")).toBeNull();
  });

  it("shows nothing about Redis when none is configured", async () => {
    status = { ...healthy, redis: null };
    render(<DegradedBanner />);
    await waitFor(() => expect(reads).toBe(1));
    expect(screen.queryByTestId("degraded-banner")).toBeNull();
  });

  it("comes and goes with the outage as the status is re-read", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    status = healthy;
    render(<DegradedBanner />);
    await waitFor(() => expect(reads).toBe(1));
    status = { ...healthy, database: "unreachable" };
    await act(async () => {
      await vi.advanceTimersByTimeAsync(DEGRADED_RECHECK_MS);
    });
    expect(await screen.findByTestId("degraded-database")).toBeTruthy();
    status = healthy;
    await act(async () => {
      await vi.advanceTimersByTimeAsync(DEGRADED_RECHECK_MS);
    });
    await waitFor(() => expect(screen.queryByTestId("degraded-banner")).toBeNull());
  });
});
