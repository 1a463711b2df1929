import { useEffect, useId, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useQuery } from "urql";

import { Badge } from "../../components/Badge";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading, Notice } from "../../components/Notice";
import { graphql } from "../../gql";
import { describeFailure } from "../../graphql/errors";
import { formatDate, formatDateTime, formatRelative } from "../../lib/dates";
import { formatCount } from "../../lib/numbers";
import { AlertList } from "../alerts/AlertList";
import { AuditEventList } from "../audit/AuditEventList";
import { useProject } from "../projects/ProjectLayout";
import { BudgetMeters } from "../usage/BudgetMeters";
import { presetRange } from "../usage/range";
import { preloadUsageCharts, UsageCharts } from "../usage/LazyUsageCharts";
import { hasTraffic } from "../usage/chartData";
import { useUsageSeries } from "../usage/useUsageSeries";
import { ClientIpsTable } from "./ClientIpsTable";
import { DeleteApiKeyDialog, type KeyToDelete } from "./DeleteApiKeyDialog";
import { EditNoteForm } from "./EditNoteForm";
import { PolicyForm } from "./PolicyForm";
import { PolicyView } from "./PolicyView";
import { RotateApiKeyDialog, type KeyToRotate } from "./RotateApiKeyDialog";

const ApiKeyDetailQuery = graphql(`
  query ApiKeyDetail($projectId: ID!, $keyId: ID!) {
    project(id: $projectId) {
      id
      models {
        id
      }
      apiKey(id: $keyId) {
        ...ApiKeyRowFields
        replacedBy
        createdBy {
          id
          name
        }
        usage24h {
          lastUsedIp
        }
        policy {
          ...ApiKeyPolicyFields
        }
        budgetUsage {
          ...BudgetUsageFields
        }
      }
    }
  }
`);

const KEY_CONTEXT = { additionalTypenames: ["ApiKey"] };

/** One key: what it is, what it did in the last day, where from, what it may do, what happened to it. */
export function ApiKeyDetailPage() {
  const project = useProject();
  useEffect(preloadUsageCharts, []);
  const { keyId = "" } = useParams();
  const navigate = useNavigate();
  const canManage = project.viewerCan.manageApiKeys;
  const readOnlyId = useId();
  const [editingNote, setEditingNote] = useState(false);
  const [editingPolicy, setEditingPolicy] = useState(false);
  const [showAcknowledged, setShowAcknowledged] = useState(false);
  const [rotating, setRotating] = useState<KeyToRotate | null>(null);
  const [deleting, setDeleting] = useState<KeyToDelete | null>(null);
  const [now] = useState(() => new Date());
  const day = presetRange("24h", now);
  const usage = useUsageSeries(project.id, day, keyId);
  const [result, reexecute] = useQuery({
    query: ApiKeyDetailQuery,
    variables: { projectId: project.id, keyId },
    context: KEY_CONTEXT,
  });
  const keysPath = `/projects/${project.id}/settings/api-keys`;

  if (result.error) {
    return <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />;
  }
  if (!result.data) return <Loading label="Loading the key…" />;
  const apiKey = result.data.project?.apiKey;
  if (!apiKey) {
    return (
      <div className="empty">
        <h1 className="empty__title">API key not found</h1>
        <p>
          It was deleted, or it belongs to another project. <Link to={keysPath}>Back to the API keys</Link>
        </p>
      </div>
    );
  }

  const expired = apiKey.status === "EXPIRED";
  const lastUsed = apiKey.usage24h.lastUsedAt ?? apiKey.lastUsedAt;
  const disabledReason = canManage ? undefined : readOnlyId;
  const models = result.data.project?.models.map((model) => model.id) ?? [];

  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to={keysPath}>API keys</Link>
        <span aria-hidden="true"> / </span>
        <span aria-current="page">{apiKey.note}</span>
      </nav>
      <header className="page-header page-header--with-action">
        <div className="page-header__main">
          {editingNote ? (
            <EditNoteForm apiKey={apiKey} onDone={() => setEditingNote(false)} />
          ) : (
            <h1 className="page-header__title key-title">{apiKey.note}</h1>
          )}
          <p className="key-meta">
            <code className="key-start">{apiKey.start}…</code>
            {expired ? <Badge tone="danger">Expired</Badge> : <Badge tone="success">Active</Badge>}
            {apiKey.rotationDue && <Badge tone="warning">Rotation due</Badge>}
            {apiKey.expiresSoon && !expired && <Badge tone="warning">Expires soon</Badge>}
            {apiKey.replacedBy && <Badge tone="info">Replaced</Badge>}
          </p>
        </div>
        <div className="header-actions">
          <button type="button" className="button button--secondary" disabled={!canManage || editingNote}
            aria-describedby={disabledReason} onClick={() => setEditingNote(true)}>
            Edit note
          </button>
          <button type="button" className="button button--secondary" disabled={!canManage}
            aria-describedby={disabledReason} onClick={() => setRotating(apiKey)}>
            Rotate
          </button>
          <button type="button" className="button button--ghost-danger" disabled={!canManage}
            aria-describedby={disabledReason} onClick={() => setDeleting(apiKey)}>
            Delete
          </button>
        </div>
      </header>

      {!canManage && (
        <Notice id={readOnlyId}>
          You can read this key. Only the project’s owners and admins can change, rotate or delete it.
        </Notice>
      )}

      {apiKey.replacedBy && (
        <div className="banner banner--info">
          <p className="banner__message">
            This key was rotated: <Link to={`${keysPath}/${apiKey.replacedBy}`}>its replacement</Link> has
            the same note and policy.{" "}
            {apiKey.expiresAt && !expired && <>This one works until {formatDateTime(apiKey.expiresAt)}.</>}
          </p>
        </div>
      )}

      <dl className="facts facts--panel">
        <div className="facts__item">
          <dt>Key id</dt>
          <dd><code>{apiKey.id}</code></dd>
        </div>
        <div className="facts__item">
          <dt>Created</dt>
          <dd>
            {formatDate(apiKey.createdAt)}
            {apiKey.createdBy && <span className="muted"> by {apiKey.createdBy.name}</span>}
          </dd>
        </div>
        <div className="facts__item">
          <dt>Expires</dt>
          <dd>{apiKey.expiresAt ? <time dateTime={apiKey.expiresAt}>{formatDateTime(apiKey.expiresAt)}</time> : "Never"}</dd>
        </div>
        <div className="facts__item">
          <dt>Rotation</dt>
          <dd>{apiKey.rotationDue ? "Due: older than the rotation period" : "Not due"}</dd>
        </div>
        <div className="facts__item">
          <dt>Last used</dt>
          <dd>
            {lastUsed ? <time dateTime={lastUsed} title={formatDateTime(lastUsed)}>{formatRelative(lastUsed)}</time> : "Never"}
            {apiKey.usage24h.lastUsedIp && <span className="muted"> from <code>{apiKey.usage24h.lastUsedIp}</code></span>}
          </dd>
        </div>
        <div className="facts__item">
          <dt>Requests (24 h)</dt>
          <dd>{formatCount(apiKey.usage24h.requests)}</dd>
        </div>
        <div className="facts__item">
          <dt>Errors (24 h)</dt>
          <dd className={apiKey.usage24h.errors > 0 ? "cell-number--alert" : undefined}>{formatCount(apiKey.usage24h.errors)}</dd>
        </div>
      </dl>

      <section className="panel" aria-labelledby="key-usage">
        <div className="panel__header">
          <h2 className="panel__title" id="key-usage">
            Last 24 hours
          </h2>
          <Link className="strong-link" to={`/projects/${project.id}/usage?key=${encodeURIComponent(apiKey.id)}`}>
            More in Usage
          </Link>
        </div>
        {usage.failure && <ErrorBanner failure={usage.failure} onRetry={usage.retry} />}
        {usage.series && !hasTraffic(usage.series.totals) && <p className="muted">No requests with this key in the last 24 hours.</p>}
        {usage.series && hasTraffic(usage.series.totals) && (
          <UsageCharts points={usage.series.points} totals={usage.series.totals} granularity="HOUR"
            rangeLabel={day.label} compact />
        )}
      </section>

      <section className="panel" aria-labelledby="key-policy">
        <div className="panel__header">
          <h2 className="panel__title" id="key-policy">
            Policy
          </h2>
          {!editingPolicy && (
            <button type="button" className="button button--secondary button--small" disabled={!canManage}
              aria-describedby={disabledReason} onClick={() => setEditingPolicy(true)}>
              Edit policy
            </button>
          )}
        </div>
        {editingPolicy ? (
          <PolicyForm keyId={apiKey.id} policy={apiKey.policy} models={models} onDone={() => setEditingPolicy(false)} />
        ) : (
          <PolicyView policy={apiKey.policy} />
        )}
        <h3 className="panel__subtitle">Budgets this period</h3>
        <BudgetMeters usage={apiKey.budgetUsage} none="This key has no budget of its own (the project’s may apply)." />
      </section>

      <section className="panel" aria-labelledby="key-addresses">
        <h2 className="panel__title" id="key-addresses">
          Client addresses
        </h2>
        {project.viewerCan.readClientIps ? (
          <ClientIpsTable projectId={project.id} keyId={apiKey.id} />
        ) : (
          <p className="muted">Only the project’s members can see where a key is used from.</p>
        )}
      </section>

      {project.viewerCan.readSecurityAlerts && (
        <section className="panel" aria-labelledby="key-alerts">
          <h2 className="panel__title" id="key-alerts">
            Security alerts
          </h2>
          <AlertList projectId={project.id} acknowledged={false} apiKeyId={apiKey.id}
            canAcknowledge={project.viewerCan.acknowledgeSecurityAlerts} readOnlyReasonId={readOnlyId}
            caption="Open alerts about this key" empty="No open alerts about this key." />
          <button type="button" className="button button--ghost button--small panel__toggle"
            aria-expanded={showAcknowledged} onClick={() => setShowAcknowledged(!showAcknowledged)}>
            {showAcknowledged ? "Hide acknowledged alerts" : "Show acknowledged alerts"}
          </button>
          {showAcknowledged && (
            <AlertList projectId={project.id} acknowledged apiKeyId={apiKey.id} canAcknowledge={false}
              caption="Acknowledged alerts about this key" empty="No alert about this key has been acknowledged." />
          )}
        </section>
      )}

      <section className="panel" aria-labelledby="key-audit">
        <h2 className="panel__title" id="key-audit">
          Audit trail
        </h2>
        {project.viewerCan.readAuditLog ? (
          <AuditEventList projectId={project.id} filters={{ action: null, actorId: null, targetId: apiKey.id }}
            caption="Changes to this key" empty="Nothing recorded about this key yet." />
        ) : (
          <p className="muted">Only the project’s owners and admins can read its audit trail.</p>
        )}
      </section>

      <RotateApiKeyDialog apiKey={rotating} onClose={() => setRotating(null)} onDeleteOld={(key) => setDeleting(key)} />
      <DeleteApiKeyDialog apiKey={deleting} onClose={() => setDeleting(null)}
        onDeleted={(id) => id === apiKey.id && navigate(keysPath)} />
    </>
  );
}
