import { NewSecret } from "../../components/NewSecret";

/** A webhook's signing secret, just made: shown this once, with how to use it. */
export function SigningSecret({ secret }: { secret: string }) {
  return (
    <NewSecret
      secret={secret}
      label="Signing secret"
      warning={
        <>
          <strong>Copy this secret now: it will not be shown again.</strong> Your endpoint checks
          each delivery’s <code>webhook-signature</code> header with it (Standard Webhooks). If you
          lose it, rotate the secret.
        </>
      }
    />
  );
}
