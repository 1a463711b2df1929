import { useId } from "react";

import type { BudgetPeriod } from "../../gql/graphql";
import type { BudgetValues } from "./policy";

type BudgetFieldsProps = {
  values: BudgetValues;
  onChange: (values: BudgetValues) => void;
  errors: { tokenBudget?: string | undefined; spendBudgetUsd?: string | undefined };
};

/** A token budget and a spend budget, each an amount per UTC day or month; blank for none. */
export function BudgetFields({ values, onChange, errors }: BudgetFieldsProps) {
  return (
    <>
      <BudgetRow
        legend="Token budget"
        amountLabel="Tokens (input + output)"
        amount={values.tokenLimit}
        period={values.tokenPeriod}
        placeholder="No budget"
        error={errors.tokenBudget}
        onAmount={(tokenLimit) => onChange({ ...values, tokenLimit })}
        onPeriod={(tokenPeriod) => onChange({ ...values, tokenPeriod })}
      />
      <BudgetRow
        legend="Spend budget"
        amountLabel="USD, at the models’ prices"
        amount={values.spendLimit}
        period={values.spendPeriod}
        placeholder="No budget"
        error={errors.spendBudgetUsd}
        onAmount={(spendLimit) => onChange({ ...values, spendLimit })}
        onPeriod={(spendPeriod) => onChange({ ...values, spendPeriod })}
      />
    </>
  );
}

type BudgetRowProps = {
  legend: string;
  amountLabel: string;
  amount: string;
  period: BudgetPeriod;
  placeholder: string;
  error: string | undefined;
  onAmount: (value: string) => void;
  onPeriod: (value: BudgetPeriod) => void;
};

function BudgetRow({ legend, amountLabel, amount, period, placeholder, error, onAmount, onPeriod }: BudgetRowProps) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <fieldset className={`field budget-row${error ? " field--invalid" : ""}`}>
      <legend className="field__label">{legend}</legend>
      <div className="budget-row__controls">
        <label className="budget-row__amount">
          <span className="field__hint">{amountLabel}</span>
          <input className="input" inputMode="decimal" value={amount} placeholder={placeholder}
            aria-invalid={Boolean(error)} aria-describedby={error ? errorId : undefined}
            onChange={(event) => onAmount(event.target.value)} />
        </label>
        <label className="budget-row__period">
          <span className="field__hint">Per</span>
          <select className="input select" value={period} onChange={(event) => onPeriod(event.target.value as BudgetPeriod)}>
            <option value="DAY">Day (UTC)</option>
            <option value="MONTH">Month (UTC)</option>
          </select>
        </label>
      </div>
      {error && (
        <p className="field__error" id={errorId}>
          {error}
        </p>
      )}
    </fieldset>
  );
}
