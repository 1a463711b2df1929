import { useState } from "react";

import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { formatDateTime } from "../../lib/dates";
import type { WebhookToChange } from "./DeleteWebhookDialog";
import { SigningSecret } from "./SigningSecret";
import { useRotateWebhookSecret } from "./useRotateWebhookSecret";

type Rotated = { secret: string; previousUntil: string | null };

type RotateWebhookSecretDialogProps = {
  webhook: WebhookToChange | null;
  onClose: () => void;
};

/**
 * A new signing secret, shown once. For 24 hours each delivery carries two signatures, one per
 * secret, so the receiver can switch to the new secret without missing a delivery.
 */
export function RotateWebhookSecretDialog({ webhook, onClose }: RotateWebhookSecretDialogProps) {
  const rotate = useRotateWebhookSecret();
  const [rotated, setRotated] = useState<Rotated | null>(null);
  const failed = rotate.outcome?.ok === false ? rotate.outcome : null;

  function close() {
    setRotated(null);
    rotate.reset();
    onClose();
  }

  async function confirm() {
    if (!webhook) return;
    const outcome = await rotate.run({ input: { id: webhook.id } });
    if (outcome.ok && outcome.payload.secret) {
      setRotated({
        secret: outcome.payload.secret,
        previousUntil: outcome.payload.webhook?.previousSecretValidUntil ?? null,
      });
    }
  }

  return (
    <Dialog
      open={webhook !== null}
      title={rotated ? "Signing secret rotated" : "Rotate the signing secret?"}
      onClose={close}
      description={
        !rotated &&
        webhook && (
          <>
            <p>
              A new secret signs the deliveries to <code className="break-anywhere">{webhook.url}</code>.
            </p>
            <p>
              For the next 24 hours each delivery carries two signatures, one with the old secret
              and one with the new, so your endpoint keeps accepting them while you deploy the new
              secret. After that only the new secret signs.
            </p>
          </>
        )
      }
    >
      {rotated ? (
        <>
          <SigningSecret secret={rotated.secret} />
          {rotated.previousUntil && (
            <div className="banner banner--warning">
              <p className="banner__message">
                The old secret signs too until{" "}
                <time dateTime={rotated.previousUntil}>{formatDateTime(rotated.previousUntil)}</time>. Give
                the new one to your endpoint before then.
              </p>
            </div>
          )}
          <div className="form__actions">
            <button type="button" className="button button--primary" onClick={close}>
              I have copied it
            </button>
          </div>
        </>
      ) : (
        <>
          {failed?.failure && <ErrorBanner failure={failed.failure} />}
          <FormErrors messages={failed?.errors.form ?? []} />
          <div className="form__actions">
            <button type="button" className="button button--secondary" onClick={close} autoFocus>
              Cancel
            </button>
            <button type="button" className="button button--primary" disabled={rotate.fetching} onClick={() => void confirm()}>
              Rotate secret
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}
