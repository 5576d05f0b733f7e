import type { Quirks } from "../api/types";

/** The quirks every provider starts with (the server's defaults). */
export const DEFAULT_QUIRKS: Quirks = {
  max_completion_tokens: false,
  replay_reasoning_content: false,
  strip_foreign_signatures: true,
  default_max_tokens: null,
};

const FLAGS: { id: "strip_foreign_signatures" | "replay_reasoning_content" | "max_completion_tokens"; label: string; hint: string }[] = [
  {
    id: "strip_foreign_signatures",
    label: "Thinking-safe switching",
    hint: "Take thinking and reasoning issued by other providers out of the history, so a conversation that moves here is not refused.",
  },
  {
    id: "replay_reasoning_content",
    label: "Replay reasoning_content",
    hint: "Send earlier reasoning back on assistant turns (DeepSeek's thinking mode needs it for tool calls).",
  },
  {
    id: "max_completion_tokens",
    label: "Use max_completion_tokens",
    hint: "OpenAI Chat: name the output cap max_completion_tokens (OpenAI's reasoning models need it).",
  },
];

/** A provider's quirks, seen and edited as checkboxes and the default output cap. */
export function QuirksFields({ value, onChange }: { value: Quirks; onChange: (q: Quirks) => void }) {
  return (
    <fieldset className="stack" aria-label="Quirks" data-testid="quirks" style={{ border: 0, padding: 0, margin: 0 }}>
      <span className="small faint">Quirks</span>
      {FLAGS.map((f) => (
        <label key={f.id} className="check" title={f.hint}>
          <input type="checkbox" name={f.id} checked={value[f.id] ?? DEFAULT_QUIRKS[f.id]} onChange={(e) => onChange({ ...value, [f.id]: e.target.checked })} />
          {f.label}
        </label>
      ))}
      <label className="field">
        <span>Default output cap</span>
        <input
          className="input"
          type="number"
          min={1}
          name="default_max_tokens"
          value={value.default_max_tokens ?? ""}
          placeholder="8192"
          onChange={(e) => onChange({ ...value, default_max_tokens: e.target.value ? Number(e.target.value) : null })}
        />
        <span className="hint">Used when the upstream requires a cap (Anthropic) and the client gave none.</span>
      </label>
    </fieldset>
  );
}
