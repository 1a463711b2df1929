import { useId, useState } from "react";

import { Badge } from "../../components/Badge";
import type { LlmApiKeyFieldsFragment } from "../../gql/graphql";
import { formatDateTime } from "../../lib/dates";
import { EditModelsForm } from "./EditModelsForm";
import { providerName } from "./providers";
import { ReplaceSecretForm } from "./ReplaceSecretForm";

type LlmKeyCardProps = {
  llmKey: LlmApiKeyFieldsFragment;
  readOnlyReasonId: string | null;
  onDelete: () => void;
};

export function LlmKeyCard({ llmKey, readOnlyReasonId, onDelete }: LlmKeyCardProps) {
  const [mode, setMode] = useState<"view" | "secret" | "models">("view");
  const headingId = useId();
  const name = providerName(llmKey.provider);
  const disabled = readOnlyReasonId !== null;
  const describedBy = [headingId, readOnlyReasonId].filter(Boolean).join(" ");

  return (
    <article className="card" aria-labelledby={headingId}>
      <header className="card__header">
        <h2 className="card__title" id={headingId}>
          {name}
        </h2>
        <Badge tone="success">Active</Badge>
      </header>
      <dl className="facts">
        <div className="facts__item">
          <dt>Secret</dt>
          <dd>
            <code>{llmKey.secretHint}</code>
          </dd>
        </div>
        <div className="facts__item">
          <dt>Default models</dt>
          <dd>{llmKey.withDefaultModels ? "Included" : "Not included"}</dd>
        </div>
        <div className="facts__item">
          <dt>Updated</dt>
          <dd>{formatDateTime(llmKey.updatedAt)}</dd>
        </div>
      </dl>

      {mode === "secret" && <ReplaceSecretForm id={llmKey.id} onDone={() => setMode("view")} />}
      {mode === "models" && <EditModelsForm llmKey={llmKey} onDone={() => setMode("view")} />}
      {mode === "view" && (
        <>
          {llmKey.customModels.length > 0 && (
            <div className="card__section">
              <h3 className="card__subtitle">Custom models</h3>
              <ul className="chips__list chips__list--static">
                {llmKey.customModels.map((model) => (
                  <li key={model} className="chip">
                    <span className="chip__text">{model}</span>
                  </li>
                ))}
              </ul>
            </div>
          )}
          <details className="card__section models">
            <summary className="models__summary">
              Routes {llmKey.models.length} {llmKey.models.length === 1 ? "model" : "models"}
            </summary>
            <ul className="models__list">
              {llmKey.models.map((model) => (
                <li key={model.id} className="models__item">
                  <code>{model.id}</code>
                  {model.source === "CUSTOM" && <Badge tone="info">Custom</Badge>}
                </li>
              ))}
            </ul>
          </details>
          <div className="card__actions">
            <button type="button" className="button button--secondary button--small" disabled={disabled}
              aria-describedby={describedBy} onClick={() => setMode("secret")}>
              Replace secret
            </button>
            <button type="button" className="button button--secondary button--small" disabled={disabled}
              aria-describedby={describedBy} onClick={() => setMode("models")}>
              Edit models
            </button>
            <button type="button" className="button button--ghost-danger button--small" disabled={disabled}
              aria-describedby={describedBy} onClick={onDelete}>
              Delete
            </button>
          </div>
        </>
      )}
    </article>
  );
}
