import type { ReactNode } from "react";

/** The title bar of a page, with its actions. */
export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="topbar">
      <h1>{title}</h1>
      {children}
    </header>
  );
}
