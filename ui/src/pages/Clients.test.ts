import { describe, expect, it } from "vitest";
import { budgetShare, inputOf } from "./Clients";
import type { ClientView } from "../api/types";

const client: ClientView = {
  name: "codex",
  enabled: true,
  models: ["m"],
  rpm: 10,
  tpm: null,
  daily_budget_usd: 2,
  monthly_budget_usd: null,
  soft_limit_pct: 80,
  expires_at_ms: null,
  expired: false,
  created_at_ms: 0,
  keys: [],
  spent_today_usd: 1,
  spent_month_usd: 1,
  day_resets_at_ms: 0,
  month_resets_at_ms: 0,
  builtin: false,
};

describe("clients", () => {
  it("sends every setting back on a switch flip", () => {
    expect(inputOf(client, { enabled: false })).toEqual({
      enabled: false,
      models: ["m"],
      rpm: 10,
      tpm: null,
      daily_budget_usd: 2,
      monthly_budget_usd: null,
      soft_limit_pct: 80,
      expires_at_ms: null,
    });
  });

  it("shows spend as a share of the budget, capped", () => {
    expect(budgetShare(1, 2)).toBe(0.5);
    expect(budgetShare(5, 2)).toBe(1);
    expect(budgetShare(1, null)).toBeNull();
  });
});
