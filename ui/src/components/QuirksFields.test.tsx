import { describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen } from "@testing-library/react";
import { DEFAULT_QUIRKS, QuirksFields } from "./QuirksFields";

describe("QuirksFields", () => {
  it("shows a provider's quirks and edits them", () => {
    const onChange = vi.fn();
    render(<QuirksFields value={{ ...DEFAULT_QUIRKS, replay_reasoning_content: true }} onChange={onChange} />);
    const safe = screen.getByLabelText("Thinking-safe switching") as HTMLInputElement;
    const replay = screen.getByLabelText("Replay reasoning_content") as HTMLInputElement;
    expect(safe.checked).toBe(true);
    expect(replay.checked).toBe(true);
    expect((screen.getByLabelText("Use max_completion_tokens") as HTMLInputElement).checked).toBe(false);
    fireEvent.click(safe);
    expect(onChange).toHaveBeenLastCalledWith({ ...DEFAULT_QUIRKS, replay_reasoning_content: true, strip_foreign_signatures: false });
    fireEvent.change(screen.getByLabelText(/Default output cap/), { target: { value: "4096" } });
    expect(onChange).toHaveBeenLastCalledWith({ ...DEFAULT_QUIRKS, replay_reasoning_content: true, default_max_tokens: 4096 });
  });
});
