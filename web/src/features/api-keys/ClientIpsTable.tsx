import { useQuery } from "urql";
import { useCursorPages } from "../../lib/useCursorPages";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading } from "../../components/Notice";
import { Pagination, Table } from "../../components/Table";
import { graphql } from "../../gql";
import { describeFailure } from "../../graphql/errors";
import { formatDateTime, formatRelative } from "../../lib/dates";
import { formatCount, pageSummary } from "../../lib/numbers";

const PAGE_SIZE = 20;

const ClientIpsQuery = graphql(`
  query ClientIps($projectId: ID!, $keyId: ID!, $first: Int!, $after: String) {
    project(id: $projectId) {
      id
      apiKey(id: $keyId) {
        id
        clientIps(first: $first, after: $after) {
          totalCount
          pageInfo {
            hasNextPage
            endCursor
          }
          edges {
            node {
              ip
              firstSeenAt
              lastSeenAt
              requests
            }
          }
        }
      }
    }
  }
`);

/** Where a key was used from, most recently seen first. */
export function ClientIpsTable({ projectId, keyId }: { projectId: string; keyId: string }) {
  const pages = useCursorPages(PAGE_SIZE);
  const [result, reexecute] = useQuery({ query: ClientIpsQuery, variables: { projectId, keyId, first: PAGE_SIZE, after: pages.after } });
  const connection = result.data?.project?.apiKey?.clientIps;
  const addresses = connection?.edges.map((edge) => edge.node) ?? [];

  if (result.error) {
    return <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />;
  }
  if (!connection) return <Loading label="Loading addresses…" />;
  if (addresses.length === 0) return <p className="muted">The key has not been used yet.</p>;
  return (
    <>
      <Table
        caption="Addresses this key was used from"
        head={
          <tr>
            <th scope="col">Address</th>
            <th scope="col">First seen</th>
            <th scope="col">Last seen</th>
            <th scope="col" className="cell-number">Requests</th>
          </tr>
        }
      >
        {addresses.map((address) => (
          <tr key={address.ip}>
            <td data-label="Address"><code>{address.ip}</code></td>
            <td data-label="First seen" className="cell-date">{formatDateTime(address.firstSeenAt)}</td>
            <td data-label="Last seen" className="cell-date">
              <time dateTime={address.lastSeenAt} title={formatDateTime(address.lastSeenAt)}>{formatRelative(address.lastSeenAt)}</time>
            </td>
            <td data-label="Requests" className="cell-number">{formatCount(address.requests)}</td>
          </tr>
        ))}
      </Table>
      {(connection.totalCount > PAGE_SIZE || pages.hasPrevious) && (
        <Pagination
          label="Client addresses pages"
          summary={pageSummary(pages.pageStart, addresses.length, connection.totalCount, ["address", "addresses"])}
          hasPrevious={pages.hasPrevious}
          hasNext={connection.pageInfo.hasNextPage}
          onPrevious={pages.previous}
          onNext={() => pages.next(connection.pageInfo.endCursor)}
        />
      )}
    </>
  );
}
