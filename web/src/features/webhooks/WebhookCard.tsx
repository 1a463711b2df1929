import { useEffect, useId } from "react";

import { Badge } from "../../components/Badge";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import type { WebhookFieldsFragment } from "../../gql/graphql";
import { formatDate, formatDateTime } from "../../lib/dates";
import { DeliveryLog } from "./DeliveryLog";
import { EVENTS, inFormOrder } from "./events";
import { useSendTestWebhook } from "./useSendTestWebhook";
import { previousSecretStillSigns, webhookState } from "./validation";

type WebhookCardProps = {
  projectId: string;
  webhook: WebhookFieldsFragment;
  /** The id of the sentence that says why the actions are off, or null when they are on. */
  readOnlyReasonId: string | null;
  onEdit: () => void;
  onRotate: () => void;
  onDelete: () => void;
};

/** One endpoint: its URL, events and state, its actions, and its delivery log. */
export function WebhookCard({ projectId, webhook, readOnlyReasonId, onEdit, onRotate, onDelete }: WebhookCardProps) {
  const headingId = useId();
  const stateId = useId();
  const logId = useId();
  const sendTest = useSendTestWebhook();
  const state = webhookState(webhook);
  const disabled = readOnlyReasonId !== null;
  const describedBy = [headingId, readOnlyReasonId].filter(Boolean).join(" ");
  const failed = sendTest.outcome?.ok === false ? sendTest.outcome : null;
  const sent = sendTest.outcome?.ok === true;
  const { reset } = sendTest;

  // The "queued" note has done its work once the log shows the delivery.
  useEffect(() => {
    if (!sent) return;
    const timer = setTimeout(reset, 8_000);
    return () => clearTimeout(timer);
  }, [sent, reset]);

  return (
    <article className="card webhook" aria-labelledby={headingId}>
      <header className="card__header webhook__header">
        <h2 className="card__title webhook__url" id={headingId}>
          {webhook.url}
        </h2>
        <span id={stateId}>
          <Badge tone={state.tone}>{state.label}</Badge>
        </span>
      </header>

      {state.detail && (
        <div className={`banner ${state.tone === "danger" ? "banner--error" : state.tone === "warning" ? "banner--warning" : "banner--info"}`}>
          <p className="banner__message">{state.detail}</p>
        </div>
      )}

      <dl className="facts facts--webhook">
        <div className="facts__item facts__item--wide">
          <dt>Events</dt>
          <dd>
            <ul className="chips__list chips__list--static" aria-label={`Events: ${webhook.events.length}`}>
              {inFormOrder(webhook.events).map((event) => (
                <li key={event} className="chip" title={EVENTS[event].sentence}>
                  <span className="chip__text">{EVENTS[event].label}</span>
                </li>
              ))}
            </ul>
          </dd>
        </div>
        <div className="facts__item">
          <dt>Added</dt>
          <dd>
            <time dateTime={webhook.createdAt} title={formatDateTime(webhook.createdAt)}>
              {formatDate(webhook.createdAt)}
            </time>
          </dd>
        </div>
        <div className="facts__item">
          <dt>Signing</dt>
          <dd>
            {previousSecretStillSigns(webhook.previousSecretValidUntil) && webhook.previousSecretValidUntil ? (
              <>
                New and old secret until{" "}
                <time dateTime={webhook.previousSecretValidUntil}>{formatDateTime(webhook.previousSecretValidUntil)}</time>
              </>
            ) : (
              "One secret"
            )}
          </dd>
        </div>
      </dl>

      <div className="card__actions">
        <button type="button" className="button button--secondary button--small" disabled={disabled || sendTest.fetching}
          aria-describedby={describedBy} onClick={() => void sendTest.run({ input: { id: webhook.id } })}>
          Send test delivery
        </button>
        <button type="button" className="button button--secondary button--small" disabled={disabled}
          aria-describedby={describedBy} onClick={onEdit}>
          Edit
        </button>
        <button type="button" className="button button--secondary button--small" disabled={disabled}
          aria-describedby={describedBy} onClick={onRotate}>
          Rotate secret
        </button>
        <button type="button" className="button button--ghost-danger button--small" disabled={disabled}
          aria-describedby={describedBy} onClick={onDelete}>
          Delete
        </button>
      </div>
      <p className="webhook__sent" role="status">
        {sent && "Test delivery queued: the log below shows how it went in a moment."}
      </p>
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormErrors messages={failed?.errors.form ?? []} />

      <section className="webhook__log" aria-labelledby={logId}>
        <h3 className="card__subtitle" id={logId}>
          Delivery log
        </h3>
        <DeliveryLog projectId={projectId} webhookId={webhook.id} url={webhook.url} />
      </section>
    </article>
  );
}
