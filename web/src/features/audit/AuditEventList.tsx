import { useQuery } from "urql";
import { useCursorPages } from "../../lib/useCursorPages";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading } from "../../components/Notice";
import { Pagination, Table } from "../../components/Table";
import { graphql } from "../../gql";
import { pageSummary } from "../../lib/numbers";
import { describeFailure } from "../../graphql/errors";
import { formatDateTime, formatRelative } from "../../lib/dates";
import { eventInWords } from "./eventInWords";

const PAGE_SIZE = 25;

const AuditEventsQuery = graphql(`
  query AuditEvents($projectId: ID!, $first: Int!, $after: String, $action: String, $actorId: ID, $targetId: String) {
    project(id: $projectId) {
      id
      auditEvents(first: $first, after: $after, action: $action, actorId: $actorId, targetId: $targetId) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            ...AuditEventFields
          }
        }
      }
    }
  }
`);

export type AuditFilters = { action: string | null; actorId: string | null; targetId: string | null };

/** Every change refetches the trail: any mutation's answer is a new event in it. */
const AUDIT_CONTEXT = {
  additionalTypenames: ["ApiKey", "LlmApiKey", "ProjectMember", "ProjectBudget", "Project", "Webhook", "SecurityAlert"],
};

type AuditEventListProps = {
  projectId: string;
  filters: AuditFilters;
  caption: string;
  empty: string;
};

/** Events newest first, a page at a time, each told in words with when and from where. */
export function AuditEventList({ projectId, filters, caption, empty }: AuditEventListProps) {
  const pages = useCursorPages(PAGE_SIZE, [projectId, filters.action, filters.actorId, filters.targetId]);

  const [result, reexecute] = useQuery({
    query: AuditEventsQuery,
    variables: { projectId, first: PAGE_SIZE, after: pages.after, ...filters },
    context: AUDIT_CONTEXT,
  });
  const connection = result.data?.project?.auditEvents;
  const events = connection?.edges.map((edge) => edge.node) ?? [];

  return (
    <>
      {result.error && (
        <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
      )}
      {result.fetching && !result.data && <Loading label="Loading the audit log…" />}
      {connection && events.length === 0 && <p className="empty empty--small">{empty}</p>}
      {connection && events.length > 0 && (
        <>
          <Table
            caption={caption}
            head={
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Address</th>
              </tr>
            }
          >
            {events.map((event) => (
              <tr key={event.id}>
                <td data-label="When" className="cell-date">
                  <time dateTime={event.createdAt} title={formatDateTime(event.createdAt)}>
                    {formatRelative(event.createdAt)}
                  </time>
                </td>
                <td data-label="Event" className="cell-event">
                  {eventInWords(event)}
                </td>
                <td data-label="Address" className="cell-ip">
                  {event.clientIp ? <code>{event.clientIp}</code> : <span className="muted">—</span>}
                </td>
              </tr>
            ))}
          </Table>
          <Pagination
            label={`${caption}: pages`}
            summary={pageSummary(pages.pageStart, events.length, connection.totalCount, ["event", "events"])}
            hasPrevious={pages.hasPrevious}
            hasNext={connection.pageInfo.hasNextPage}
            onPrevious={pages.previous}
            onNext={() => pages.next(connection.pageInfo.endCursor)}
          />
        </>
      )}
    </>
  );
}
