import type { ReactNode } from "react";

/** A calm explanation, e.g. why actions are disabled for a member. */
export function Notice({ id, children }: { id?: string; children: ReactNode }) {
  return (
    <div className="banner banner--info" id={id}>
      {children}
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="loading" role="status">
      {label}
    </p>
  );
}
