import { useCallback, useEffect, useState } from "react";
import { useQuery } from "urql";

import { Badge, type BadgeTone } from "../../components/Badge";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading } from "../../components/Notice";
import { Table } from "../../components/Table";
import { graphql } from "../../gql";
import type { WebhookDeliveryFieldsFragment, WebhookDeliveryStatus } from "../../gql/graphql";
import { describeFailure } from "../../graphql/errors";
import { formatDateTime, formatRelative } from "../../lib/dates";
import { formatCount } from "../../lib/numbers";
import { awaitingAttempt, deliveriesShown, responseInWords } from "./deliveries";
import { DELIVERY_STATUS_LABELS, EVENTS } from "./events";

const PAGE_SIZE = 10;
/** How often the log asks again while a delivery's attempt is due. */
const WATCH_EVERY_MS = 1_500;

const WebhookDeliveriesQuery = graphql(`
  query WebhookDeliveries($projectId: ID!, $webhookId: ID!, $first: Int!, $after: String) {
    project(id: $projectId) {
      id
      webhook(id: $webhookId) {
        id
        deliveries(first: $first, after: $after) {
          totalCount
          pageInfo {
            hasNextPage
            endCursor
          }
          edges {
            node {
              ...WebhookDeliveryFields
            }
          }
        }
      }
    }
  }
`);

/** A test delivery sent into an empty log must refetch it (see useFormMutation). */
const DELIVERIES_CONTEXT = { additionalTypenames: ["WebhookDelivery"] };

type PageEnd = { hasNextPage: boolean; endCursor: string | null; count: number };

type DeliveryLogProps = {
  projectId: string;
  webhookId: string;
  /** The endpoint, to name the table (several webhooks' logs share a page). */
  url: string;
};

/**
 * A webhook's deliveries, newest first, a page at a time ("Load more" adds the next page under
 * the ones shown). While a delivery waits for an attempt due soon, the first page asks again
 * every second and a half, so a test delivery's outcome shows without reloading.
 */
export function DeliveryLog({ projectId, webhookId, url }: DeliveryLogProps) {
  const [more, setMore] = useState<Array<string | null>>([]);
  const [ends, setEnds] = useState<Record<number, PageEnd>>({});
  const [result, reexecute] = useQuery({
    query: WebhookDeliveriesQuery,
    variables: { projectId, webhookId, first: PAGE_SIZE, after: null },
    context: DELIVERIES_CONTEXT,
  });
  const connection = result.data?.project?.webhook?.deliveries;
  const deliveries = connection?.edges.map((edge) => edge.node) ?? [];
  const watching = awaitingAttempt(deliveries);

  useEffect(() => {
    if (!watching || result.fetching) return;
    const timer = setTimeout(() => reexecute({ requestPolicy: "network-only" }), WATCH_EVERY_MS);
    return () => clearTimeout(timer);
  }, [watching, result.fetching, result.data, reexecute]);

  // A new delivery shifts every page by one: start again from the first page rather than
  // show later pages that would now skip a delivery.
  const total = connection?.totalCount;
  useEffect(() => {
    setMore([]);
    setEnds({});
  }, [total]);

  const onPageEnd = useCallback((index: number, end: PageEnd) => {
    setEnds((current) => ({ ...current, [index]: end }));
  }, []);

  if (result.error) {
    return <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />;
  }
  if (!connection) return <Loading label="Loading deliveries…" />;
  if (deliveries.length === 0) {
    return (
      <p className="muted">
        No deliveries yet. Events you subscribed to show here as they are sent; a test delivery
        shows whether your endpoint accepts them.
      </p>
    );
  }

  const last: PageEnd | undefined =
    more.length === 0
      ? { hasNextPage: connection.pageInfo.hasNextPage, endCursor: connection.pageInfo.endCursor ?? null, count: deliveries.length }
      : ends[more.length - 1];
  const shown = deliveries.length + more.reduce((sum, _after, index) => sum + (ends[index]?.count ?? 0), 0);

  return (
    <>
      <Table
        caption={`Deliveries to ${url}`}
        head={
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col" className="cell-number">Attempts</th>
            <th scope="col">Response</th>
            <th scope="col">Created</th>
            <th scope="col">Delivered</th>
          </tr>
        }
      >
        {deliveries.map((delivery) => (
          <DeliveryRow key={delivery.id} delivery={delivery} />
        ))}
        {more.map((after, index) => (
          <DeliveryPage key={after ?? index} projectId={projectId} webhookId={webhookId} after={after}
            index={index} onEnd={onPageEnd} />
        ))}
      </Table>
      <div className="pagination">
        <p className="pagination__summary" role="status">
          {deliveriesShown(shown, connection.totalCount)}
        </p>
        {last?.hasNextPage && (
          <div className="pagination__buttons">
            <button type="button" className="button button--secondary button--small"
              onClick={() => setMore([...more, last.endCursor])}>
              Load more
            </button>
          </div>
        )}
      </div>
    </>
  );
}

type DeliveryPageProps = {
  projectId: string;
  webhookId: string;
  after: string | null;
  index: number;
  onEnd: (index: number, end: PageEnd) => void;
};

/** One more page of rows, after a cursor; it tells the log where it ends. */
function DeliveryPage({ projectId, webhookId, after, index, onEnd }: DeliveryPageProps) {
  const [result] = useQuery({
    query: WebhookDeliveriesQuery,
    variables: { projectId, webhookId, first: PAGE_SIZE, after },
    context: DELIVERIES_CONTEXT,
  });
  const connection = result.data?.project?.webhook?.deliveries;
  const deliveries = connection?.edges.map((edge) => edge.node) ?? [];
  const hasNextPage = connection?.pageInfo.hasNextPage;
  const endCursor = connection?.pageInfo.endCursor ?? null;

  useEffect(() => {
    if (hasNextPage === undefined) return;
    onEnd(index, { hasNextPage, endCursor, count: deliveries.length });
  }, [index, hasNextPage, endCursor, deliveries.length, onEnd]);

  if (result.error) {
    return (
      <tr>
        <td colSpan={6}>
          <ErrorBanner failure={describeFailure(result.error)} />
        </td>
      </tr>
    );
  }
  return (
    <>
      {deliveries.map((delivery) => (
        <DeliveryRow key={delivery.id} delivery={delivery} />
      ))}
    </>
  );
}

const STATUS_TONES: Record<WebhookDeliveryStatus, BadgeTone> = {
  PENDING: "info",
  SUCCEEDED: "success",
  FAILED: "danger",
};

function DeliveryRow({ delivery }: { delivery: WebhookDeliveryFieldsFragment }) {
  const event = EVENTS[delivery.event];
  const response = responseInWords(delivery);
  return (
    <tr>
      <td data-label="Event" className="cell-note">
        <span className="cell-note__text">{event.label}</span>
        <code className="cell-hint">{event.type}</code>
      </td>
      <td data-label="Status" className="cell-status">
        <Badge tone={STATUS_TONES[delivery.status]}>{DELIVERY_STATUS_LABELS[delivery.status]}</Badge>
        {delivery.error && <span className="cell-hint">{delivery.error}</span>}
        {delivery.status === "PENDING" && delivery.nextAttemptAt && (
          <span className="cell-hint">
            Next attempt{" "}
            <time dateTime={delivery.nextAttemptAt} title={formatDateTime(delivery.nextAttemptAt)}>
              {formatRelative(delivery.nextAttemptAt)}
            </time>
          </span>
        )}
      </td>
      <td data-label="Attempts" className="cell-number">{formatCount(delivery.attempts)}</td>
      <td data-label="Response">{response ?? <span className="muted">—</span>}</td>
      <td data-label="Created" className="cell-date">
        <time dateTime={delivery.createdAt}>{formatDateTime(delivery.createdAt)}</time>
      </td>
      <td data-label="Delivered" className="cell-date">
        {delivery.deliveredAt ? (
          <time dateTime={delivery.deliveredAt}>{formatDateTime(delivery.deliveredAt)}</time>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
    </tr>
  );
}
