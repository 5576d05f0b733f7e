import { describe, expect, it, vi } from "vitest";
import { act, fireEvent, render, screen } from "@testing-library/react";
import { Dialog } from "./Dialog";
import { StatePill } from "./ui";

describe("Dialog", () => {
  it("moves focus in, traps Tab, and closes on Escape", () => {
    const onClose = vi.fn();
    render(
      <Dialog title="Add" onClose={onClose} footer={<button type="button">Save</button>}>
        <input aria-label="Name" data-autofocus />
      </Dialog>,
    );
    const name = screen.getByLabelText("Name");
    expect(document.activeElement).toBe(name);
    const save = screen.getByText("Save");
    save.focus();
    fireEvent.keyDown(save, { key: "Tab" });
    expect(document.activeElement).toBe(screen.getByLabelText("Close"));
    fireEvent.keyDown(screen.getByLabelText("Close"), { key: "Tab", shiftKey: true });
    expect(document.activeElement).toBe(save);
    fireEvent.keyDown(name, { key: "Escape" });
    expect(onClose).toHaveBeenCalledOnce();
  });
});

describe("StatePill", () => {
  it("counts down live while cooling", () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
    render(<StatePill state="cooling" untilMs={1_000_000 + 65_000} />);
    expect(screen.getByText("1m 05s")).toBeTruthy();
    act(() => {
      vi.setSystemTime(1_000_000 + 6_000);
      vi.advanceTimersByTime(1000);
    });
    // 65 s − 6 s − 1 s of ticking.
    expect(screen.getByText("58s")).toBeTruthy();
    vi.useRealTimers();
  });

  it("uses the state's color", () => {
    const { container } = render(<StatePill state="auth_error" />);
    expect(container.querySelector(".pill.red")?.textContent).toContain("Auth error");
  });
});
