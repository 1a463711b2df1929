import { useId, useState, type KeyboardEvent } from "react";

import { FormField } from "./FormField";

type ChipsInputProps = {
  label: string;
  values: string[];
  /** Text typed but not yet turned into a chip; the form adds it on submit. */
  pending: string;
  /** Both at once, so adding a chip and clearing the field is one change. */
  onChange: (next: { values: string[]; pending: string }) => void;
  error?: string | undefined;
  /** Errors about single items, by index (e.g. from userErrors `["customModels", "2"]`). */
  itemErrors?: Record<number, string> | undefined;
  hint?: string;
  disabled?: boolean;
  placeholder?: string;
  /** Values to offer as the person types (a datalist). */
  suggestions?: ReadonlyArray<string>;
};

/** Splits typed or pasted text into items: commas, spaces and new lines separate them. */
export function splitItems(text: string): string[] {
  return text.split(/[\s,]+/).filter((item) => item !== "");
}

/** Adds items, keeping the first of duplicates and the existing order. */
export function addItems(values: string[], text: string): string[] {
  const next = [...values];
  for (const item of splitItems(text)) if (!next.includes(item)) next.push(item);
  return next;
}

/**
 * A list of short values as removable chips: type one and press Enter (or a comma) to add it,
 * Backspace in the empty field to remove the last one.
 */
export function ChipsInput(props: ChipsInputProps) {
  const { label, values, pending, onChange, error, itemErrors = {}, hint, disabled = false } = props;
  const { placeholder = "e.g. ft:gpt-4.1:acme::abc, then Enter", suggestions } = props;
  const [announcement, setAnnouncement] = useState("");
  const listId = useId();

  function commit() {
    if (pending.trim() === "") return;
    onChange({ values: addItems(values, pending), pending: "" });
    setAnnouncement(`Added ${splitItems(pending).join(", ")}.`);
  }

  function onKeyDown(event: KeyboardEvent<HTMLInputElement>) {
    if (event.key === "Enter" || event.key === ",") {
      event.preventDefault();
      commit();
    } else if (event.key === "Backspace" && pending === "" && values.length > 0) {
      const removed = values.at(-1);
      onChange({ values: values.slice(0, -1), pending });
      setAnnouncement(`Removed ${removed}.`);
    }
  }

  function remove(index: number) {
    const removed = values[index];
    onChange({ values: values.filter((_, i) => i !== index), pending });
    setAnnouncement(`Removed ${removed}.`);
  }

  return (
    <FormField label={label} error={error} hint={hint}>
      {(fieldProps) => (
        <div className="chips">
          {values.length > 0 && (
            <ul className="chips__list" aria-label={`${label}: ${values.length}`}>
              {values.map((value, index) => (
                <li key={value} className={`chip${itemErrors[index] ? " chip--invalid" : ""}`}>
                  <span className="chip__text">{value}</span>
                  {itemErrors[index] && <span className="chip__error">{itemErrors[index]}</span>}
                  <button type="button" className="chip__remove" aria-label={`Remove ${value}`}
                    disabled={disabled} onClick={() => remove(index)}>
                    ×
                  </button>
                </li>
              ))}
            </ul>
          )}
          <input {...fieldProps} className="input input--mono" value={pending} disabled={disabled}
            placeholder={placeholder} list={suggestions ? listId : undefined}
            onChange={(event) => onChange({ values, pending: event.target.value })} onKeyDown={onKeyDown} onBlur={commit}
            autoComplete="off" spellCheck={false} />
          {suggestions && (
            <datalist id={listId}>
              {suggestions
                .filter((item) => !values.includes(item))
                .map((item) => (
                  <option key={item} value={item} />
                ))}
            </datalist>
          )}
          <span className="visually-hidden" role="status">
            {announcement}
          </span>
        </div>
      )}
    </FormField>
  );
}
