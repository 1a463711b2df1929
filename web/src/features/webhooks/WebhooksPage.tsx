import { useId, useState } from "react";
import { useQuery } from "urql";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading, Notice } from "../../components/Notice";
import { graphql } from "../../gql";
import type { WebhookFieldsFragment } from "../../gql/graphql";
import { describeFailure } from "../../graphql/errors";
import { useProject } from "../projects/ProjectLayout";
import { AddWebhookDialog } from "./AddWebhookDialog";
import { DeleteWebhookDialog, type WebhookToChange } from "./DeleteWebhookDialog";
import { EditWebhookDialog } from "./EditWebhookDialog";
import { RotateWebhookSecretDialog } from "./RotateWebhookSecretDialog";
import { WebhookCard } from "./WebhookCard";

const WebhooksQuery = graphql(`
  query Webhooks($projectId: ID!) {
    project(id: $projectId) {
      id
      webhooks {
        ...WebhookFields
      }
    }
  }
`);

/** A webhook added into an empty list, or deleted, must refetch the list (see useFormMutation). */
const WEBHOOKS_CONTEXT = { additionalTypenames: ["Webhook"] };

/** The project's webhook endpoints, for owners and admins (their URLs can carry tokens). */
export function WebhooksPage() {
  const project = useProject();
  const canRead = project.viewerCan.readWebhooks;
  const canManage = project.viewerCan.manageWebhooks;
  const readOnlyId = useId();
  const [adding, setAdding] = useState(false);

  return (
    <>
      <header className="page-header page-header--with-action">
        <div>
          <h1 className="page-header__title">Webhooks</h1>
          <p className="page-header__lead">
            Your own services hear of this project’s events as they happen: TrayLinx POSTs each one,
            signed, to the endpoints here.
          </p>
        </div>
        <button type="button" className="button button--primary" disabled={!canManage}
          aria-describedby={canManage ? undefined : readOnlyId} onClick={() => setAdding(true)}>
          Add webhook
        </button>
      </header>

      {!canRead ? (
        <Notice id={readOnlyId}>
          Only this project’s owners and admins can see and manage its webhooks: an endpoint’s URL
          can carry the receiving service’s own token. Ask one of them if you need an endpoint
          added or changed.
        </Notice>
      ) : (
        <>
          {!canManage && (
            <Notice id={readOnlyId}>
              You can see this project’s webhooks. Only its owners and admins can add, change, test
              or delete them.
            </Notice>
          )}
          <WebhookList projectId={project.id} canManage={canManage} readOnlyId={readOnlyId} />
        </>
      )}

      <AddWebhookDialog projectId={project.id} open={adding} onClose={() => setAdding(false)} />
    </>
  );
}

function WebhookList({ projectId, canManage, readOnlyId }: { projectId: string; canManage: boolean; readOnlyId: string }) {
  const [editing, setEditing] = useState<WebhookFieldsFragment | null>(null);
  const [rotating, setRotating] = useState<WebhookToChange | null>(null);
  const [deleting, setDeleting] = useState<WebhookToChange | null>(null);
  const [result, reexecute] = useQuery({
    query: WebhooksQuery,
    variables: { projectId },
    context: WEBHOOKS_CONTEXT,
  });
  const webhooks = result.data?.project?.webhooks;

  return (
    <>
      {result.error && (
        <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
      )}
      {result.fetching && !result.data && <Loading label="Loading webhooks…" />}

      {webhooks && webhooks.length === 0 && <EmptyWebhooks canManage={canManage} />}

      {webhooks && webhooks.length > 0 && (
        <div className="webhooks">
          {webhooks.map((webhook) => (
            <WebhookCard key={webhook.id} projectId={projectId} webhook={webhook}
              readOnlyReasonId={canManage ? null : readOnlyId}
              onEdit={() => setEditing(webhook)}
              onRotate={() => setRotating({ id: webhook.id, url: webhook.url })}
              onDelete={() => setDeleting({ id: webhook.id, url: webhook.url })} />
          ))}
        </div>
      )}

      <EditWebhookDialog webhook={editing} onClose={() => setEditing(null)} />
      <RotateWebhookSecretDialog webhook={rotating} onClose={() => setRotating(null)} />
      <DeleteWebhookDialog webhook={deleting} onClose={() => setDeleting(null)} />
    </>
  );
}

/** What webhooks are and how a receiver trusts them, before there is any. */
function EmptyWebhooks({ canManage }: { canManage: boolean }) {
  return (
    <div className="empty empty--explain">
      <p className="empty__title">No webhooks yet</p>
      <p>
        A webhook is a URL of your own service. When something happens in this project (a
        security alert, a leaked key, a budget passing 80 %, a key created or deleted), TrayLinx
        POSTs it there as JSON, and tries again for up to 24 hours if your service does not
        answer 2xx.
      </p>
      <p>
        Each delivery is signed per the{" "}
        <a href="https://www.standardwebhooks.com/" rel="noreferrer" target="_blank">Standard Webhooks</a>{" "}
        specification, with the headers <code>webhook-id</code>, <code>webhook-timestamp</code>{" "}
        and <code>webhook-signature</code>. Check the signature with the endpoint’s secret, shown
        once when you add it, before trusting a delivery.
      </p>
      <p>{canManage ? "Add one to get started." : "Owners and admins of this project can add them."}</p>
    </div>
  );
}
