import { useId } from "react";
import { Link } from "react-router";

import { Badge } from "../../components/Badge";
import type { ApiKeyRowFieldsFragment } from "../../gql/graphql";
import { formatDate, formatDateTime, formatRelative } from "../../lib/dates";
import { EditNoteForm } from "./EditNoteForm";

type ApiKeyRowProps = {
  apiKey: ApiKeyRowFieldsFragment;
  editing: boolean;
  /** Why actions are disabled (the id of the visible explanation), or null when they are allowed. */
  readOnlyReasonId: string | null;
  onEdit: () => void;
  onEditDone: () => void;
  onRotate: () => void;
  onDelete: () => void;
};

export function ApiKeyRow({ apiKey, editing, readOnlyReasonId, onEdit, onEditDone, onRotate, onDelete }: ApiKeyRowProps) {
  const noteId = useId();
  const lastUsed = apiKey.usage24h.lastUsedAt ?? apiKey.lastUsedAt;
  const disabled = readOnlyReasonId !== null;
  // Each row's buttons are named like every other row's ("Delete"); their description says which key.
  const describedBy = [noteId, readOnlyReasonId].filter(Boolean).join(" ");
  const expired = apiKey.status === "EXPIRED";

  return (
    <tr className={expired ? "table__row--muted" : undefined}>
      <td data-label="Note" className="cell-note">
        {editing ? (
          <EditNoteForm apiKey={apiKey} onDone={onEditDone} />
        ) : (
          <Link id={noteId} className="cell-note__text strong-link" to={apiKey.id}
            aria-label={`${apiKey.note}, key ${apiKey.start}…`}>
            {apiKey.note}
          </Link>
        )}
        <span className="cell-badges">
          {apiKey.rotationDue && <Badge tone="warning">Rotation due</Badge>}
          {apiKey.expiresSoon && !expired && <Badge tone="warning">Expires soon</Badge>}
        </span>
      </td>
      <td data-label="Key">
        <code className="key-start" title={`Key id ${apiKey.id}`}>
          {apiKey.start}…
        </code>
      </td>
      <td data-label="Status">
        {expired ? <Badge tone="danger">Expired</Badge> : <Badge tone="success">Active</Badge>}
      </td>
      <td data-label="Created" className="cell-date">{formatDate(apiKey.createdAt)}</td>
      <td data-label="Expires" className="cell-date">
        {apiKey.expiresAt ? <time dateTime={apiKey.expiresAt}>{formatDateTime(apiKey.expiresAt)}</time> : "Never"}
      </td>
      <td data-label="Last used" className="cell-date">
        {lastUsed ? (
          <time dateTime={lastUsed} title={formatDateTime(lastUsed)}>
            {formatRelative(lastUsed)}
          </time>
        ) : (
          "Never"
        )}
      </td>
      <td data-label="Requests (24 h)" className="cell-number">
        {apiKey.usage24h.requests.toLocaleString()}
      </td>
      <td data-label="Errors (24 h)" className={`cell-number${apiKey.usage24h.errors > 0 ? " cell-number--alert" : ""}`}>
        {apiKey.usage24h.errors.toLocaleString()}
      </td>
      <td data-label="Actions" className="cell-actions">
        {!editing && (
          <div className="row-actions">
            <button type="button" className="button button--ghost button--small" disabled={disabled}
              aria-describedby={describedBy} onClick={onEdit}>
              Edit note
            </button>
            <button type="button" className="button button--ghost button--small" disabled={disabled}
              aria-describedby={describedBy} onClick={onRotate}>
              Rotate
            </button>
            <button type="button" className="button button--ghost-danger button--small" disabled={disabled}
              aria-describedby={describedBy} onClick={onDelete}>
              Delete
            </button>
          </div>
        )}
      </td>
    </tr>
  );
}
