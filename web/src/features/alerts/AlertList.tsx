import { useState } from "react";
import { useQuery } from "urql";
import { useCursorPages } from "../../lib/useCursorPages";

import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { Loading } from "../../components/Notice";
import { Pagination } from "../../components/Table";
import { graphql } from "../../gql";
import { pageSummary } from "../../lib/numbers";
import { describeFailure, type Failure } from "../../graphql/errors";
import { AlertsTable } from "./AlertsTable";
import { useAcknowledgeSecurityAlert } from "./useAcknowledgeSecurityAlert";

const PAGE_SIZE = 20;

const SecurityAlertsQuery = graphql(`
  query SecurityAlerts($projectId: ID!, $first: Int!, $after: String, $onlyAcknowledged: Boolean!, $apiKeyId: ID) {
    project(id: $projectId) {
      id
      securityAlerts(first: $first, after: $after, onlyAcknowledged: $onlyAcknowledged, apiKeyId: $apiKeyId) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            ...SecurityAlertFields
          }
        }
      }
    }
  }
`);

/** Acknowledging moves alerts between the open and the acknowledged lists: both refetch. */
const ALERTS_CONTEXT = { additionalTypenames: ["SecurityAlert"] };

type AlertListProps = {
  projectId: string;
  /** The acknowledged alerts instead of the open ones. */
  acknowledged: boolean;
  /** One key's alerts (its page); all the project's otherwise. */
  apiKeyId?: string | null;
  canAcknowledge: boolean;
  /** The id of the text saying why Acknowledge is disabled. */
  readOnlyReasonId?: string | undefined;
  caption: string;
  empty: string;
};

/** One list of alerts, paged; the open list lets owners and admins acknowledge one or several. */
export function AlertList(props: AlertListProps) {
  const { projectId, acknowledged, apiKeyId = null, canAcknowledge, readOnlyReasonId, caption, empty } = props;
  const pages = useCursorPages(PAGE_SIZE, [projectId, apiKeyId, acknowledged]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [status, setStatus] = useState("");
  const [problems, setProblems] = useState<{ failure: Failure | null; messages: string[] }>({ failure: null, messages: [] });
  const acknowledge = useAcknowledgeSecurityAlert();
  const [working, setWorking] = useState(false);

  const [result, reexecute] = useQuery({
    query: SecurityAlertsQuery,
    variables: { projectId, first: PAGE_SIZE, after: pages.after, onlyAcknowledged: acknowledged, apiKeyId },
    context: ALERTS_CONTEXT,
  });
  const connection = result.data?.project?.securityAlerts;
  const alerts = connection?.edges.map((edge) => edge.node) ?? [];
  const ticked = alerts.filter((alert) => selected.has(alert.id)).map((alert) => alert.id);

  async function acknowledgeTicked() {
    setWorking(true);
    setStatus("");
    const messages: string[] = [];
    let failure: Failure | null = null;
    let done = 0;
    // One mutation per alert, one after the other: each is its own small transaction.
    for (const id of ticked) {
      const outcome = await acknowledge.run({ input: { id } });
      if (outcome.ok) done += 1;
      else {
        failure ??= outcome.failure;
        messages.push(...outcome.errors.form);
      }
    }
    setProblems({ failure, messages });
    setSelected(new Set());
    setWorking(false);
    if (done > 0) setStatus(done === 1 ? "1 alert acknowledged." : `${done} alerts acknowledged.`);
  }

  function toggle(id: string, on: boolean) {
    const next = new Set(selected);
    if (on) next.add(id);
    else next.delete(id);
    setSelected(next);
  }

  const showActions = !acknowledged && alerts.length > 0;

  return (
    <div className="alert-list">
      {result.error && (
        <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
      )}
      {problems.failure && <ErrorBanner failure={problems.failure} />}
      <FormErrors messages={problems.messages} />
      {showActions && (
        <div className="list-actions">
          <button type="button" className="button button--primary button--small"
            disabled={!canAcknowledge || ticked.length === 0 || working}
            aria-describedby={canAcknowledge ? undefined : readOnlyReasonId} onClick={() => void acknowledgeTicked()}>
            Acknowledge
          </button>
          {canAcknowledge && (
            <span className="muted list-actions__hint">
              {ticked.length === 0
                ? "Tick the alerts you have looked into."
                : `${ticked.length} selected`}
            </span>
          )}
        </div>
      )}
      <p className="visually-hidden" role="status">
        {status}
      </p>
      {status && !showActions && <p className="muted">{status}</p>}
      {result.fetching && !result.data && <Loading label="Loading alerts…" />}
      {connection && alerts.length === 0 && <p className="empty empty--small">{empty}</p>}
      {connection && alerts.length > 0 && (
        <>
          <AlertsTable
            caption={caption}
            projectId={projectId}
            alerts={alerts}
            withKey={apiKeyId === null}
            selected={canAcknowledge && !acknowledged ? selected : null}
            onToggle={toggle}
            onToggleAll={(on) => setSelected(on ? new Set(alerts.filter((a) => !a.acknowledgedAt).map((a) => a.id)) : new Set())}
          />
          {(connection.totalCount > PAGE_SIZE || pages.hasPrevious) && (
            <Pagination
              label={`${caption}: pages`}
              summary={pageSummary(pages.pageStart, alerts.length, connection.totalCount, ["alert", "alerts"])}
              hasPrevious={pages.hasPrevious}
              hasNext={connection.pageInfo.hasNextPage}
              onPrevious={pages.previous}
              onNext={() => pages.next(connection.pageInfo.endCursor)}
            />
          )}
        </>
      )}
    </div>
  );
}
