import type { ReactNode } from "react";

/** The frame of the log-in and sign-up pages. */
export function AuthCard({ title, children, footer }: { title: string; children: ReactNode; footer: ReactNode }) {
  return (
    <main className="auth" id="main">
      <div className="auth__card">
        <p className="auth__brand">
          <span className="brand-mark" aria-hidden="true" />
          TrayLinx Keys
        </p>
        <h1 className="auth__title">{title}</h1>
        {children}
        <p className="auth__footer">{footer}</p>
      </div>
    </main>
  );
}
