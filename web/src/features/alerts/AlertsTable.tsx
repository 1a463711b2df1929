import { Link } from "react-router";

import { Badge } from "../../components/Badge";
import { Table } from "../../components/Table";
import type { SecurityAlertFieldsFragment } from "../../gql/graphql";
import { formatDateTime, formatRelative, formatWindow } from "../../lib/dates";
import { ALERT_KINDS, evidenceInWords } from "./evidence";

type AlertsTableProps = {
  caption: string;
  projectId: string;
  alerts: ReadonlyArray<SecurityAlertFieldsFragment>;
  /** Ids of the alerts ticked for acknowledging; null when the viewer may not acknowledge. */
  selected?: ReadonlySet<string> | null;
  onToggle?: (id: string, on: boolean) => void;
  onToggleAll?: (on: boolean) => void;
  /** Leave the key column out (the key's own page). */
  withKey?: boolean;
};

/** Alerts with their kind, key, window and evidence in words; open ones can be ticked. */
export function AlertsTable(props: AlertsTableProps) {
  const { caption, projectId, alerts, selected = null, onToggle, onToggleAll, withKey = true } = props;
  const selectable = selected !== null && alerts.some((alert) => !alert.acknowledgedAt);
  const allTicked = selectable && alerts.every((alert) => alert.acknowledgedAt || selected.has(alert.id));
  return (
    <Table
      caption={caption}
      head={
        <tr>
          {selectable && (
            <th scope="col" className="cell-check">
              <input type="checkbox" className="check__box" aria-label="Select every open alert shown"
                checked={allTicked} onChange={(event) => onToggleAll?.(event.target.checked)} />
            </th>
          )}
          <th scope="col">Alert</th>
          {withKey && <th scope="col">Key</th>}
          <th scope="col">When</th>
          <th scope="col">Evidence</th>
          <th scope="col">Status</th>
        </tr>
      }
    >
      {alerts.map((alert) => {
        const kind = ALERT_KINDS[alert.kind];
        const keyName = alert.apiKey ? `“${alert.apiKey.note}”` : `a deleted key (${alert.apiKeyId})`;
        return (
          <tr key={alert.id} className={alert.acknowledgedAt ? "table__row--muted" : undefined}>
            {selectable && (
              <td data-label="Select" className="cell-check">
                {!alert.acknowledgedAt && (
                  <input type="checkbox" className="check__box" checked={selected.has(alert.id)}
                    aria-label={`Select: ${kind.label}, ${keyName}, ${formatWindow(alert.windowStart, alert.windowEnd)}`}
                    onChange={(event) => onToggle?.(alert.id, event.target.checked)} />
                )}
              </td>
            )}
            <td data-label="Alert" className="cell-note">
              <span className="cell-note__text">{kind.label}</span>
              <span className="cell-hint">{kind.explains}</span>
            </td>
            {withKey && (
              <td data-label="Key">
                {alert.apiKey ? (
                  <Link to={`/projects/${projectId}/settings/api-keys/${alert.apiKey.id}`}>
                    {alert.apiKey.note} <code className="key-start">{alert.apiKey.start}…</code>
                  </Link>
                ) : (
                  <span className="muted">
                    Deleted key <code>{alert.apiKeyId}</code>
                  </span>
                )}
              </td>
            )}
            <td data-label="When" className="cell-date">
              <time dateTime={alert.windowStart}>{formatWindow(alert.windowStart, alert.windowEnd)}</time>
            </td>
            <td data-label="Evidence" className="cell-evidence">
              {evidenceInWords(alert.kind, alert.evidence)}
            </td>
            <td data-label="Status">
              {alert.acknowledgedAt ? (
                <span title={formatDateTime(alert.acknowledgedAt)}>
                  <Badge>Acknowledged</Badge> <span className="cell-hint">{formatRelative(alert.acknowledgedAt)}</span>
                </span>
              ) : (
                <Badge tone="danger">Open</Badge>
              )}
            </td>
          </tr>
        );
      })}
    </Table>
  );
}
