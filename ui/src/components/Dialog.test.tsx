import { describe, expect, it, vi } from "vitest";
import { act, fireEvent, render, screen } from "@testing-library/react";
import { ConfirmDialog, Dialog } from "./Dialog";
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

  it("still answers Escape and Tab when focus fell to the page (a disabled submit button)", () => {
    const onClose = vi.fn();
    render(
      <>
        <button type="button">Behind</button>
        <Dialog title="Add" onClose={onClose} footer={<button type="button">Save</button>}>
          <input aria-label="Name" data-autofocus />
        </Dialog>
      </>,
    );
    (document.activeElement as HTMLElement).blur();
    expect(document.activeElement).toBe(document.body);
    fireEvent.keyDown(document.body, { key: "Tab" });
    expect(document.activeElement).toBe(screen.getByLabelText("Close"));
    (document.activeElement as HTMLElement).blur();
    fireEvent.keyDown(document.body, { key: "Escape" });
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

  it("shows a past event's cooldown as a fixed length, not a live countdown", () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
    render(<StatePill state="cooling" atMs={1_000_000 - 2_000} untilMs={1_000_000 + 5_000} />);
    expect(screen.getByText("for 7s")).toBeTruthy();
    act(() => {
      vi.setSystemTime(1_000_000 + 9_000);
      vi.advanceTimersByTime(1000);
    });
    expect(screen.getByText("for 7s")).toBeTruthy();
    expect(screen.queryByText("now")).toBeNull();
    vi.useRealTimers();
  });

  it("uses the state's color", () => {
    const { container } = render(<StatePill state="auth_error" />);
    expect(container.querySelector(".pill.red")?.textContent).toContain("Auth error");
  });
});

describe("ConfirmDialog", () => {
  it("acts only on the confirm button; Cancel and Escape leave things as they are", () => {
    const onConfirm = vi.fn();
    const onClose = vi.fn();
    const { unmount } = render(
      <ConfirmDialog title="Delete key “main”?" confirmLabel="Delete key" onConfirm={onConfirm} onClose={onClose}>
        It cannot be restored.
      </ConfirmDialog>,
    );
    expect(document.activeElement).toBe(screen.getByText("Cancel"));
    fireEvent.click(screen.getByText("Cancel"));
    fireEvent.keyDown(document.body, { key: "Escape" });
    expect(onClose).toHaveBeenCalledTimes(2);
    expect(onConfirm).not.toHaveBeenCalled();
    fireEvent.click(screen.getByText("Delete key"));
    expect(onConfirm).toHaveBeenCalledOnce();
    unmount();
  });
});
