import { useId, useState } from "react";
import { useQuery } from "urql";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading, Notice } from "../../components/Notice";
import { graphql } from "../../gql";
import type { LlmProvider } from "../../gql/graphql";
import { describeFailure } from "../../graphql/errors";
import { useProject } from "../projects/ProjectLayout";
import { AddLlmApiKeyDialog } from "./AddLlmApiKeyDialog";
import { DeleteLlmApiKeyDialog } from "./DeleteLlmApiKeyDialog";
import { LlmKeyCard } from "./LlmKeyCard";
import { PROVIDER_ORDER, providerName } from "./providers";

const LlmApiKeysQuery = graphql(`
  query LlmApiKeys($projectId: ID!) {
    project(id: $projectId) {
      id
      llmApiKeys {
        ...LlmApiKeyFields
      }
    }
  }
`);

const LLM_KEYS_CONTEXT = { additionalTypenames: ["LlmApiKey"] };

export function LlmKeysPage() {
  const project = useProject();
  const canManage = project.viewerCan.manageLlmApiKeys;
  const readOnlyId = useId();
  const allConfiguredId = useId();
  const [adding, setAdding] = useState(false);
  const [deleting, setDeleting] = useState<{ id: string; provider: LlmProvider } | null>(null);
  const [result, reexecute] = useQuery({
    query: LlmApiKeysQuery,
    variables: { projectId: project.id },
    context: LLM_KEYS_CONTEXT,
  });

  const keys = [...(result.data?.project?.llmApiKeys ?? [])].sort(
    (a, b) => PROVIDER_ORDER.indexOf(a.provider) - PROVIDER_ORDER.indexOf(b.provider),
  );
  const available = PROVIDER_ORDER.filter((provider) => !keys.some((key) => key.provider === provider));
  const allConfigured = result.data !== undefined && available.length === 0;
  const addReason = !canManage ? readOnlyId : allConfigured ? allConfiguredId : undefined;

  return (
    <>
      <header className="page-header page-header--with-action">
        <div>
          <h1 className="page-header__title">LLM API keys</h1>
          <p className="page-header__lead">
            The project’s keys at each model provider. Applications never see them: TrayLinx adds
            them to the requests it forwards.
          </p>
        </div>
        <button type="button" className="button button--primary" disabled={addReason !== undefined}
          aria-describedby={addReason} onClick={() => setAdding(true)}>
          Add LLM API key
        </button>
      </header>

      {!canManage && (
        <Notice id={readOnlyId}>
          You can read this project’s provider keys. Only its owners and admins can add, replace or
          delete them.
        </Notice>
      )}
      {canManage && allConfigured && (
        <p className="muted" id={allConfiguredId}>
          Every provider has a key. Replace a secret or edit models on its card.
        </p>
      )}

      {result.error && (
        <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
      )}
      {result.fetching && !result.data && <Loading label="Loading provider keys…" />}

      {result.data && keys.length === 0 && (
        <div className="empty">
          <p className="empty__title">No provider keys yet</p>
          <p>
            Add a key for {PROVIDER_ORDER.map(providerName).join(" or ")} so this project’s applications
            can call its models.
          </p>
        </div>
      )}

      <div className="cards">
        {keys.map((key) => (
          <LlmKeyCard key={key.id} llmKey={key} readOnlyReasonId={canManage ? null : readOnlyId}
            onDelete={() => setDeleting({ id: key.id, provider: key.provider })} />
        ))}
      </div>

      <AddLlmApiKeyDialog projectId={project.id} open={adding} available={available} onClose={() => setAdding(false)} />
      <DeleteLlmApiKeyDialog llmKey={deleting} onClose={() => setDeleting(null)} />
    </>
  );
}
