import { useId, useRef, type ReactNode } from "react";

import { CopyButton } from "./CopyButton";

type NewSecretProps = {
  secret: string;
  /** What the secret is, as its field's label. */
  label?: string;
  /** The plain warning under it; by default an API key's. */
  warning?: ReactNode;
};

/** A secret just made (an API key, a webhook's signing secret): shown this once, with a copy button. */
export function NewSecret({ secret, label = "New API key", warning }: NewSecretProps) {
  const id = useId();
  const warningId = useId();
  const input = useRef<HTMLInputElement>(null);
  return (
    <div className="secret">
      <label className="field__label" htmlFor={id}>
        {label}
      </label>
      <input
          ref={input}
          id={id}
          className="input input--mono secret__value"
          readOnly
          value={secret}
          aria-describedby={warningId}
          onFocus={(event) => event.currentTarget.select()}
          spellCheck={false}
        />
      <div className="secret__actions">
        <CopyButton text={secret} fallbackTarget={() => input.current} />
      </div>
      <p className="secret__warning" id={warningId}>
        {warning ?? (
          <>
            <strong>Copy this key now: it will not be shown again.</strong> TrayLinx keeps only a
            fingerprint of it, so nobody can show it to you later. If you lose it, create a new key.
          </>
        )}
      </p>
    </div>
  );
}
