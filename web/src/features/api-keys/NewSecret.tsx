import { useId, useRef } from "react";

import { CopyButton } from "../../components/CopyButton";

/** The secret of a key just created: shown this once, with a copy button and a plain warning. */
export function NewSecret({ secret }: { secret: string }) {
  const id = useId();
  const warningId = useId();
  const input = useRef<HTMLInputElement>(null);
  return (
    <div className="secret">
      <label className="field__label" htmlFor={id}>
        New API key
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
        <strong>Copy this key now: it will not be shown again.</strong> TrayLinx keeps only a
        fingerprint of it, so nobody can show it to you later. If you lose it, create a new key.
      </p>
    </div>
  );
}
