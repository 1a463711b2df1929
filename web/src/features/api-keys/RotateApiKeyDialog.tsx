import { useState, type FormEvent } from "react";

import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import { formatDateTime, localInputToUtc, timeZoneName } from "../../lib/dates";
import { formatSeconds } from "../../lib/numbers";
import { NewSecret } from "../../components/NewSecret";
import { useRotateApiKey } from "./useRotateApiKey";

export type KeyToRotate = { id: string; note: string; start: string };

/** How long the old key keeps working: the service takes 0 to 7 days. */
const GRACE_PERIODS = [0, 900, 3_600, 86_400, 259_200, 604_800];
const DEFAULT_GRACE = 86_400;

type Rotated = {
  secret: string;
  newKeyId: string;
  /** The old key's last moment, or null when it was revoked at once. */
  oldKeyEnds: string | null;
};

type RotateApiKeyDialogProps = {
  apiKey: KeyToRotate | null;
  onClose: () => void;
  /** Ending the grace period early: deleting the old key. */
  onDeleteOld?: (key: KeyToRotate) => void;
  /** Where the new key's page is, to go there after rotating from the old key's page. */
  onRotated?: (newKeyId: string) => void;
};

/**
 * A new key with the same note and policy, its secret shown once; the old key keeps working
 * for a grace period (time to deploy the new one), then is refused as expired.
 */
export function RotateApiKeyDialog({ apiKey, onClose, onDeleteOld, onRotated }: RotateApiKeyDialogProps) {
  const rotate = useRotateApiKey();
  const [grace, setGrace] = useState(DEFAULT_GRACE);
  const [expiresAt, setExpiresAt] = useState("");
  const [expiryCheck, setExpiryCheck] = useState<string | null>(null);
  const [rotated, setRotated] = useState<Rotated | null>(null);

  function close() {
    const done = rotated;
    setRotated(null);
    setGrace(DEFAULT_GRACE);
    setExpiresAt("");
    setExpiryCheck(null);
    rotate.reset();
    onClose();
    if (done) onRotated?.(done.newKeyId);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!apiKey) return;
    const expiry = localInputToUtc(expiresAt);
    setExpiryCheck(expiry.ok ? null : expiry.message);
    if (!expiry.ok) return;
    const outcome = await rotate.run({
      input: { id: apiKey.id, gracePeriodSeconds: grace, expiresAt: expiry.value },
    });
    if (outcome.ok && outcome.payload.secret && outcome.payload.apiKey) {
      setRotated({
        secret: outcome.payload.secret,
        newKeyId: outcome.payload.apiKey.id,
        oldKeyEnds: outcome.payload.previousApiKey?.expiresAt ?? null,
      });
    }
  }

  const failed = rotate.outcome?.ok === false ? rotate.outcome : null;
  const title = rotated ? "API key rotated" : apiKey ? `Rotate “${apiKey.note}”` : "Rotate API key";

  return (
    <Dialog
      open={apiKey !== null}
      title={title}
      onClose={close}
      description={
        !rotated &&
        "A new key with the same note and policy replaces this one. The old key keeps working for the grace period, so you can move your services to the new key without downtime; then it stops."
      }
    >
      {rotated && apiKey ? (
        <>
          <NewSecret secret={rotated.secret} />
          <div className="banner banner--warning">
            <p className="banner__message">
              {rotated.oldKeyEnds ? (
                <>
                  The old key <code>{apiKey.start}…</code> keeps working until{" "}
                  <time dateTime={rotated.oldKeyEnds}>{formatDateTime(rotated.oldKeyEnds)}</time>, then
                  stops. Move your services to the new key before then.
                </>
              ) : (
                <>
                  The old key <code>{apiKey.start}…</code> was revoked: requests with it get 401 from
                  now on.
                </>
              )}
            </p>
            {rotated.oldKeyEnds && onDeleteOld && (
              <button type="button" className="button button--secondary button--small"
                onClick={() => { const old = apiKey; close(); onDeleteOld(old); }}>
                Delete the old key now…
              </button>
            )}
          </div>
          <div className="form__actions">
            <button type="button" className="button button--primary" onClick={close}>
              I have copied it
            </button>
          </div>
        </>
      ) : (
        <form className="form" onSubmit={(event) => void submit(event)} noValidate>
          {failed?.failure && <ErrorBanner failure={failed.failure} />}
          <FormErrors messages={failed?.errors.form ?? []} />
          <FormField label="Old key keeps working for" error={failed?.errors.fields.gracePeriodSeconds}
            hint="Long enough to deploy the new key everywhere. After a leak, revoke it now.">
            {(props) => (
              <select {...props} className="input select" value={grace} autoFocus
                onChange={(event) => setGrace(Number(event.target.value))}>
                {GRACE_PERIODS.map((seconds) => (
                  <option key={seconds} value={seconds}>
                    {seconds === 0 ? "No time: revoke it now" : formatSeconds(seconds)}
                  </option>
                ))}
              </select>
            )}
          </FormField>
          <FormField label="New key expires at" error={expiryCheck ?? failed?.errors.fields.expiresAt}
            hint={`Optional; blank for a key that never expires. In your time zone (${timeZoneName()}).`}>
            {(props) => (
              <input {...props} className="input" type="datetime-local" value={expiresAt}
                onChange={(event) => setExpiresAt(event.target.value)} />
            )}
          </FormField>
          <div className="form__actions">
            <button type="button" className="button button--secondary" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="button button--primary" disabled={rotate.fetching}>
              Rotate key
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
