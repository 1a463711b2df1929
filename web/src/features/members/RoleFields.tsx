import { useId } from "react";

import type { ProjectRole } from "../../gql/graphql";
import { ROLE_HELP, ROLE_LABELS, ROLE_ORDER } from "../projects/RoleBadge";

type RoleFieldsProps = {
  value: ProjectRole;
  onChange: (role: ProjectRole) => void;
  error?: string | undefined;
};

/** The three roles as choices, each with what it may do. */
export function RoleFields({ value, onChange, error }: RoleFieldsProps) {
  const name = useId();
  const errorId = useId();
  return (
    <fieldset className={`field choices${error ? " field--invalid" : ""}`} aria-describedby={error ? errorId : undefined}>
      <legend className="field__label">Role</legend>
      {ROLE_ORDER.map((role) => (
        <label key={role} className="choice">
          <input type="radio" className="check__box" name={name} value={role} checked={value === role}
            onChange={() => onChange(role)} />
          <span className="choice__text">
            <span className="choice__label">{ROLE_LABELS[role]}</span>
            <span className="choice__help">{ROLE_HELP[role]}</span>
          </span>
        </label>
      ))}
      {error && (
        <p className="field__error" id={errorId}>
          {error}
        </p>
      )}
    </fieldset>
  );
}
