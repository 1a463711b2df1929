import type { BudgetPeriod, BudgetUsageFieldsFragment } from "../../gql/graphql";
import { formatDateTime } from "../../lib/dates";
import { formatCount, formatPercent, formatUsd, usdValue } from "../../lib/numbers";

const PERIOD: Record<BudgetPeriod, string> = { DAY: "today (UTC day)", MONTH: "this month (UTC)" };

type MeterProps = {
  title: string;
  used: number;
  limit: number;
  /** "1,234 of 5,000,000 tokens" */
  amounts: string;
  period: BudgetPeriod;
  resetsAt: string;
  note?: string | undefined;
};

/** Used against limit: the numbers in words, and a bar that only repeats them for the eye. */
function BudgetMeter({ title, used, limit, amounts, period, resetsAt, note }: MeterProps) {
  const fraction = limit > 0 ? used / limit : 0;
  const tone = fraction >= 1 ? "danger" : fraction >= 0.8 ? "warning" : "ok";
  return (
    <div className={`meter meter--${tone}`}>
      <p className="meter__title">
        {title}, {PERIOD[period]}
      </p>
      <div className="meter__track" aria-hidden="true">
        <div className="meter__fill" style={{ width: `${Math.min(fraction, 1) * 100}%` }} />
      </div>
      <p className="meter__amounts">
        {amounts} <span className="muted">({formatPercent(fraction)})</span>
      </p>
      <p className="meter__detail">
        Starts again <time dateTime={resetsAt}>{formatDateTime(resetsAt)}</time>.{note ? ` ${note}` : ""}
      </p>
    </div>
  );
}

type BudgetMetersProps = {
  usage: BudgetUsageFieldsFragment;
  /** Said when there is no budget, e.g. "This key has no budget." */
  none: string;
};

export function BudgetMeters({ usage, none }: BudgetMetersProps) {
  const { tokens, spendUsd } = usage;
  if (!tokens && !spendUsd) return <p className="muted">{none}</p>;
  return (
    <div className="meters">
      {tokens && (
        <BudgetMeter
          title="Tokens"
          used={tokens.used}
          limit={tokens.limit}
          amounts={`${formatCount(tokens.used)} of ${formatCount(tokens.limit)} tokens`}
          period={tokens.period}
          resetsAt={tokens.resetsAt}
        />
      )}
      {spendUsd && (
        <BudgetMeter
          title="Spend"
          used={usdValue(spendUsd.used)}
          limit={usdValue(spendUsd.limit)}
          amounts={`${formatUsd(spendUsd.used)} of ${formatUsd(spendUsd.limit)}`}
          period={spendUsd.period}
          resetsAt={spendUsd.resetsAt}
          note={
            spendUsd.unpricedTokens > 0
              ? `${formatCount(spendUsd.unpricedTokens)} tokens of models without a price are not in it.`
              : undefined
          }
        />
      )}
    </div>
  );
}
