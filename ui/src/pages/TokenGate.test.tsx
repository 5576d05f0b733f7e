import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { TokenGate } from "./TokenGate";

describe("TokenGate", () => {
  it("shows the prefix real admin tokens have", () => {
    render(<TokenGate onToken={() => {}} />);
    expect(screen.getByPlaceholderText("sbadm-…")).toBeTruthy();
  });
});
