import type { Failure } from "../graphql/errors";

type ErrorBannerProps = {
  failure: Failure;
  onRetry?: () => void;
};

/** An unexpected failure, with the request id to quote when reporting it. */
export function ErrorBanner({ failure, onRetry }: ErrorBannerProps) {
  return (
    <div className="banner banner--error" role="alert">
      <p className="banner__message">{failure.message}</p>
      {failure.requestId && (
        <p className="banner__detail">
          Request id: <code>{failure.requestId}</code> (quote it when reporting the problem)
        </p>
      )}
      {onRetry && (
        <button type="button" className="button button--secondary button--small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Problems with the whole input (`userErrors` without a field the form shows). */
export function FormErrors({ messages }: { messages: ReadonlyArray<string> }) {
  if (messages.length === 0) return null;
  return (
    <div className="banner banner--error" role="alert">
      {messages.map((message) => (
        <p key={message} className="banner__message">
          {message}
        </p>
      ))}
    </div>
  );
}
