import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import type { WebhookEvent } from "../../gql/graphql";
import type { FieldErrors } from "../../graphql/userErrors";
import { EVENTS, SUBSCRIBABLE_EVENTS, inFormOrder } from "./events";
import { checkWebhookForm, isPlainHttp, type WebhookFormField } from "./validation";

export type WebhookFormValues = { url: string; events: WebhookEvent[]; enabled: boolean };

type WebhookFormProps = {
  initial: WebhookFormValues;
  /** Editing shows the enabled switch; a new webhook starts enabled. */
  showEnabled: boolean;
  submitLabel: string;
  submitting: boolean;
  serverErrors: FieldErrors<"url" | "events" | "enabled"> | null;
  onSubmit: (values: WebhookFormValues) => void;
  onCancel: () => void;
};

/** The URL and the events of a webhook (and, when editing, whether it is enabled). */
export function WebhookForm(props: WebhookFormProps) {
  const { initial, showEnabled, submitLabel, submitting, serverErrors, onSubmit, onCancel } = props;
  const [url, setUrl] = useState(initial.url);
  const [events, setEvents] = useState<WebhookEvent[]>(initial.events);
  const [enabled, setEnabled] = useState(initial.enabled);
  const [checks, setChecks] = useState<Partial<Record<WebhookFormField, string>>>({});
  const eventsErrorId = useId();
  const enabledHintId = useId();
  const urlInput = useRef<HTMLInputElement>(null);
  const firstEvent = useRef<HTMLInputElement>(null);
  const formErrors = useRef<HTMLDivElement>(null);
  // After a refused submit, the first field to fix gets the focus (and scrolls into view).
  const [attempt, setAttempt] = useState(0);

  function toggle(event: WebhookEvent, on: boolean) {
    setEvents(inFormOrder(on ? [...events, event] : events.filter((chosen) => chosen !== event)));
  }

  function submit(formEvent: FormEvent) {
    formEvent.preventDefault();
    const check = checkWebhookForm({ url, events });
    setChecks(check.ok ? {} : check.fields);
    if (check.ok) onSubmit({ ...check.input, enabled });
    else setAttempt(attempt + 1);
  }

  const urlError = checks.url ?? serverErrors?.fields.url;
  const eventsError = checks.events ?? serverErrors?.fields.events;

  useEffect(() => {
    if (attempt === 0 && !serverErrors) return;
    if (urlError) urlInput.current?.focus();
    else if (eventsError) firstEvent.current?.focus();
    else formErrors.current?.scrollIntoView({ block: "nearest" });
    // Only a new refusal moves the focus, not typing a correction.
  }, [attempt, serverErrors]);

  return (
    <form className="form" onSubmit={submit} noValidate>
      {serverErrors && serverErrors.form.length > 0 && (
        <div ref={formErrors}>
          <FormErrors messages={serverErrors.form} />
        </div>
      )}
      <FormField label="Endpoint URL" error={urlError}
        hint={
          isPlainHttp(url)
            ? "Plain http:// works, but anyone on the way can read the deliveries: prefer https://."
            : "Where TrayLinx POSTs each event as JSON. Your service answers 2xx to accept it."
        }>
        {(fieldProps) => (
          <input {...fieldProps} ref={urlInput} className="input input--mono" type="url" inputMode="url" autoComplete="off"
            spellCheck={false} placeholder="https://example.com/hooks/traylinx" value={url} autoFocus
            onChange={(event) => setUrl(event.target.value)} />
        )}
      </FormField>

      <fieldset className={`field choices${eventsError ? " field--invalid" : ""}`}
        aria-describedby={eventsError ? eventsErrorId : undefined}>
        <legend className="field__label">Events</legend>
        {SUBSCRIBABLE_EVENTS.map((event, index) => (
          <label key={event} className="choice">
            <input type="checkbox" className="check__box" checked={events.includes(event)}
              ref={index === 0 ? firstEvent : undefined}
              onChange={(change) => toggle(event, change.target.checked)} />
            <span className="choice__text">
              <span className="choice__label">
                {EVENTS[event].label} <code className="choice__code">{EVENTS[event].type}</code>
              </span>
              <span className="choice__help">{EVENTS[event].sentence}</span>
            </span>
          </label>
        ))}
        {eventsError && (
          <p className="field__error" id={eventsErrorId}>
            {eventsError}
          </p>
        )}
      </fieldset>

      {showEnabled && (
        <div className={`field field--check${serverErrors?.fields.enabled ? " field--invalid" : ""}`}>
          <label className="check">
            <input type="checkbox" className="check__box" checked={enabled} aria-describedby={enabledHintId}
              onChange={(event) => setEnabled(event.target.checked)} />
            <span>Enabled</span>
          </label>
          <p className="field__hint" id={enabledHintId}>
            Off: nothing is sent and pending deliveries fail. On again: deliveries resume, and a
            disabling for failures is cleared.
          </p>
          {serverErrors?.fields.enabled && <p className="field__error">{serverErrors.fields.enabled}</p>}
        </div>
      )}

      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button--primary" disabled={submitting}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
