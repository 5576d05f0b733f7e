// Names for the generated schema types.
import type { components } from "./schema";

type S = components["schemas"];
export type Status = S["Status"];
export type UsageSummary = S["UsageSummary"];
export type Provider = S["Provider"];
export type Preset = S["Preset"];
export type KeyView = S["KeyView"];
export type KeyInfo = S["KeyInfo"];
export type Route = S["Route"];
export type Target = S["Target"];
export type Strategy = S["Strategy"];
export type FlowPlan = S["FlowPlan"];
export type FlowStep = S["FlowStep"];
export type Settings = S["Settings"];
export type CooldownPolicy = S["CooldownPolicy"];
export type HealthEvent = S["HealthEvent"];
export type HealthState = S["HealthState"];
export type KeyStanding = S["KeyStanding"];
export type StandingChanged = S["StandingChanged"];
export type Summary = S["Summary"];
export type RequestRecord = S["RequestRecord"];
export type AttemptRecord = S["AttemptRecord"];
export type UsagePoint = S["UsagePoint"];
export type CacheHit = S["CacheHit"];
export type ModelInfo = S["ModelInfo"];
export type ClientView = S["ClientView"];
export type ClientInput = S["ClientInput"];
export type BudgetEvent = S["BudgetEvent"];

export const STRATEGIES: Strategy[] = ["priority", "weighted", "round_robin", "least_busy", "fastest", "cheapest"];
export type WebhookView = S["WebhookView"];
export type CreatedWebhook = S["CreatedWebhook"];
export type DeliveryReport = S["DeliveryReport"];
export type WebhookFormat = S["WebhookFormat"];
export type PriceTableView = S["PriceTableView"];
export type ModelPricing = S["ModelPricing"];
export type ModelPrice = S["ModelPrice"];
