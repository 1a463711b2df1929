import { Component, type ErrorInfo, type ReactNode } from "react";

type State = { error: Error | null };

/**
 * The last line of defence: a rendering bug shows a message and a way out instead of a blank
 * page. (Failed requests never get here: pages show them with their request id.)
 */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    // Kept in the console for whoever investigates; nothing is sent anywhere.
    console.error(error, info.componentStack);
  }

  override render() {
    if (this.state.error) return <CrashMessage error={this.state.error} />;
    return this.props.children;
  }
}

export function CrashMessage({ error }: { error: unknown }) {
  const detail = error instanceof Error ? error.message : String(error);
  return (
    <main className="crash" id="main">
      <h1>This page failed</h1>
      <p>Something in the console broke while showing this page. Your data is safe.</p>
      <p className="crash__detail">
        <code>{detail}</code>
      </p>
      <p>
        <a className="button" href="/admin/projects">
          Back to projects
        </a>
      </p>
    </main>
  );
}
