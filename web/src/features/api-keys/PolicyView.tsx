import type { ApiKeyPolicyFieldsFragment } from "../../gql/graphql";
import { formatCount, formatUsd } from "../../lib/numbers";

const PERIOD = { DAY: "a day (UTC)", MONTH: "a month (UTC)" } as const;

function limit(value: number | null | undefined): string {
  return value === null || value === undefined ? "No limit" : formatCount(value);
}

/** A key's policy, read-only: what it may call, from where, how fast, how much. */
export function PolicyView({ policy }: { policy: ApiKeyPolicyFieldsFragment }) {
  const scopes = [
    policy.scopes.includes("PROXY") ? "Call models (/v1)" : null,
    policy.scopes.includes("READ") ? "Read the project (GraphQL)" : null,
  ].filter(Boolean);
  return (
    <dl className="facts facts--wide">
      <div className="facts__item">
        <dt>Scopes</dt>
        <dd>{scopes.join(", ")}</dd>
      </div>
      <div className="facts__item">
        <dt>Models</dt>
        <dd>{policy.allowedModels ? <List items={policy.allowedModels} /> : "Every model"}</dd>
      </div>
      <div className="facts__item">
        <dt>Client addresses</dt>
        <dd>{policy.allowedIps ? <List items={policy.allowedIps} /> : "Any address"}</dd>
      </div>
      <div className="facts__item">
        <dt>Requests per minute</dt>
        <dd>{limit(policy.requestsPerMinute)}</dd>
      </div>
      <div className="facts__item">
        <dt>Tokens per minute</dt>
        <dd>{limit(policy.tokensPerMinute)}</dd>
      </div>
      <div className="facts__item">
        <dt>Requests at once</dt>
        <dd>{limit(policy.maxConcurrentRequests)}</dd>
      </div>
      <div className="facts__item">
        <dt>Token budget</dt>
        <dd>
          {policy.tokenBudget
            ? `${formatCount(policy.tokenBudget.limit)} ${PERIOD[policy.tokenBudget.period]}`
            : "None"}
        </dd>
      </div>
      <div className="facts__item">
        <dt>Spend budget</dt>
        <dd>
          {policy.spendBudgetUsd
            ? `${formatUsd(policy.spendBudgetUsd.limit)} ${PERIOD[policy.spendBudgetUsd.period]}`
            : "None"}
        </dd>
      </div>
    </dl>
  );
}

function List({ items }: { items: ReadonlyArray<string> }) {
  return (
    <ul className="chips__list chips__list--static">
      {items.map((item) => (
        <li key={item} className="chip">
          <span className="chip__text">{item}</span>
        </li>
      ))}
    </ul>
  );
}
