import { useId, useState, type FormEvent } from "react";

import type { UsageGranularity } from "../../gql/graphql";
import { customRange, RANGE_CHOICES, type CustomRange, type RangeChoice } from "./range";
import type { RangeRefusal } from "./useUsageSeries";

type RangePickerProps = {
  choice: RangeChoice;
  custom: CustomRange;
  onChoose: (choice: RangeChoice) => void;
  onApplyCustom: (custom: CustomRange) => void;
  /** The service's words about a range it refused, shown here and tied to the field at fault. */
  refusal: RangeRefusal | null;
};

/** The last 24 hours, 7 or 30 days, or whole UTC days of one's choosing. */
export function RangePicker({ choice, custom, onChoose, onApplyCustom, refusal }: RangePickerProps) {
  const id = useId();
  const errorId = `${id}-error`;
  const [draft, setDraft] = useState<CustomRange>(custom);
  const [check, setCheck] = useState<{ field: "from" | "to"; message: string } | null>(null);

  function apply(event: FormEvent) {
    event.preventDefault();
    const result = customRange(draft);
    setCheck(result.ok ? null : { field: result.field, message: result.message });
    if (result.ok) onApplyCustom(draft);
  }

  const message = check?.message ?? refusal?.message ?? null;
  const invalid = (field: string) => check?.field === field || (!check && refusal?.field === field);
  const describedBy = message ? errorId : undefined;

  return (
    <div className="range-picker">
      <fieldset className="segmented">
        <legend className="segmented__legend">Range</legend>
        {RANGE_CHOICES.map((option) => (
          <label key={option.value} className="segmented__option">
            <input type="radio" className="segmented__input" name={`${id}-range`} value={option.value}
              checked={choice === option.value} onChange={() => onChoose(option.value)} />
            <span className="segmented__label">{option.label}</span>
          </label>
        ))}
      </fieldset>
      {choice === "custom" && (
        <form className="range-custom" onSubmit={apply} noValidate aria-label="Custom range">
          <div className="range-custom__field">
            <label className="field__label" htmlFor={`${id}-from`}>From (UTC day)</label>
            <input id={`${id}-from`} className="input" type="date" value={draft.from} aria-invalid={invalid("from")}
              aria-describedby={describedBy} onChange={(event) => setDraft({ ...draft, from: event.target.value })} />
          </div>
          <div className="range-custom__field">
            <label className="field__label" htmlFor={`${id}-to`}>To (UTC day, included)</label>
            <input id={`${id}-to`} className="input" type="date" value={draft.to} aria-invalid={invalid("to")}
              aria-describedby={describedBy} onChange={(event) => setDraft({ ...draft, to: event.target.value })} />
          </div>
          <div className="range-custom__field">
            <label className="field__label" htmlFor={`${id}-by`}>Buckets</label>
            <select id={`${id}-by`} className="input select" value={draft.granularity} aria-invalid={invalid("granularity")}
              aria-describedby={describedBy}
              onChange={(event) => setDraft({ ...draft, granularity: event.target.value as UsageGranularity })}>
              <option value="DAY">By day</option>
              <option value="HOUR">By hour</option>
            </select>
          </div>
          <button type="submit" className="button button--secondary">
            Show
          </button>
        </form>
      )}
      {message && (
        <p className="field__error range-picker__error" id={errorId} role="alert">
          {message}
        </p>
      )}
    </div>
  );
}
