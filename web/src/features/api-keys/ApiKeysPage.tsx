import { useEffect, useId, useState } from "react";
import { useSearchParams } from "react-router";
import { useQuery } from "urql";
import { useCursorPages } from "../../lib/useCursorPages";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading, Notice } from "../../components/Notice";
import { Pagination, Table } from "../../components/Table";
import { graphql } from "../../gql";
import type { ApiKeyStatus } from "../../gql/graphql";
import { describeFailure } from "../../graphql/errors";
import { pageSummary } from "../../lib/numbers";
import { useProject } from "../projects/ProjectLayout";
import { ApiKeyRow } from "./ApiKeyRow";
import { CreateApiKeyDialog } from "./CreateApiKeyDialog";
import { DeleteApiKeyDialog, type KeyToDelete } from "./DeleteApiKeyDialog";
import { ProjectBudgetPanel } from "./ProjectBudgetPanel";
import { RotateApiKeyDialog, type KeyToRotate } from "./RotateApiKeyDialog";

const PAGE_SIZE = 20;

const ApiKeysQuery = graphql(`
  query ApiKeys($projectId: ID!, $first: Int!, $after: String, $search: String, $status: ApiKeyStatus) {
    project(id: $projectId) {
      id
      apiKeys(first: $first, after: $after, search: $search, status: $status) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            ...ApiKeyRowFields
          }
        }
      }
    }
  }
`);

/** A key created into an empty list, or deleted, must refetch the list (see useFormMutation). */
const KEYS_CONTEXT = { additionalTypenames: ["ApiKey"] };

export function ApiKeysPage() {
  const project = useProject();
  const canManage = project.viewerCan.manageApiKeys;
  const readOnlyId = useId();
  const [params, setParams] = useSearchParams();
  const search = params.get("search") ?? "";
  const status = parseStatus(params.get("status"));
  const [searchText, setSearchText] = useState(search);
  const pages = useCursorPages(PAGE_SIZE, [search, status, project.id]);

  const [creating, setCreating] = useState(false);
  const [rotating, setRotating] = useState<KeyToRotate | null>(null);
  const [deleting, setDeleting] = useState<KeyToDelete | null>(null);
  const [editingId, setEditingId] = useState<string | null>(null);

  // The search field updates the URL a moment after typing stops, and starts from page one.
  useEffect(() => {
    if (searchText === search) return;
    const timer = setTimeout(() => {
      setParams((current) => withParam(current, "search", searchText.trim()), { replace: true });
    }, 250);
    return () => clearTimeout(timer);
  }, [searchText, search, setParams]);

  const [result, reexecute] = useQuery({
    query: ApiKeysQuery,
    variables: { projectId: project.id, first: PAGE_SIZE, after: pages.after, search: search || null, status },
    context: KEYS_CONTEXT,
  });

  const connection = result.data?.project?.apiKeys;
  const keys = connection?.edges.map((edge) => edge.node) ?? [];
  const filtered = search !== "" || status !== null;

  return (
    <>
      <header className="page-header page-header--with-action">
        <div>
          <h1 className="page-header__title">API keys</h1>
          <p className="page-header__lead">
            Applications send a key as <code>Authorization: Bearer tlx_…</code> to call models through
            TrayLinx for this project.
          </p>
        </div>
        <button type="button" className="button button--primary" disabled={!canManage}
          aria-describedby={canManage ? undefined : readOnlyId} onClick={() => setCreating(true)}>
          Create API key
        </button>
      </header>

      {!canManage && (
        <Notice id={readOnlyId}>
          You can read this project’s keys. Only its owners and admins can create, edit, rotate or
          delete them, or change the project’s budget.
        </Notice>
      )}

      <div className="toolbar" role="search">
        <label className="toolbar__search">
          <span className="visually-hidden">Search by note or key id</span>
          <input className="input" type="search" placeholder="Search by note or key id" value={searchText}
            onChange={(event) => setSearchText(event.target.value)} />
        </label>
        <label className="toolbar__filter">
          <span className="toolbar__filter-label">Status</span>
          <select className="input select" value={status ?? ""}
            onChange={(event) => setParams((current) => withParam(current, "status", event.target.value), { replace: true })}>
            <option value="">All</option>
            <option value="ACTIVE">Active</option>
            <option value="EXPIRED">Expired</option>
          </select>
        </label>
      </div>

      {result.error && (
        <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
      )}
      {result.fetching && !result.data && <Loading label="Loading keys…" />}

      {connection && keys.length === 0 && (
        <div className="empty">
          {filtered ? (
            <>
              <p className="empty__title">No key matches</p>
              <p>Search looks at the notes and at exact key ids.</p>
            </>
          ) : (
            <>
              <p className="empty__title">No API keys yet</p>
              <p>
                {canManage
                  ? "Create a key for each application or environment, with a note that says where it is used."
                  : "Owners and admins of this project can create them."}
              </p>
            </>
          )}
        </div>
      )}

      {connection && keys.length > 0 && (
        <>
          <Table
            caption="API keys of this project"
            head={
              <tr>
                <th scope="col">Note</th>
                <th scope="col">Key</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col" className="cell-number">Requests (24 h)</th>
                <th scope="col" className="cell-number">Errors (24 h)</th>
                <th scope="col"><span className="visually-hidden">Actions</span></th>
              </tr>
            }
          >
            {keys.map((apiKey) => (
              <ApiKeyRow
                key={apiKey.id}
                apiKey={apiKey}
                editing={editingId === apiKey.id}
                readOnlyReasonId={canManage ? null : readOnlyId}
                onEdit={() => setEditingId(apiKey.id)}
                onEditDone={() => setEditingId(null)}
                onRotate={() => setRotating(apiKey)}
                onDelete={() => setDeleting(apiKey)}
              />
            ))}
          </Table>
          <Pagination
            label="API keys pages"
            summary={pageSummary(pages.pageStart, keys.length, connection.totalCount, ["key", "keys"])}
            hasPrevious={pages.hasPrevious}
            hasNext={connection.pageInfo.hasNextPage}
            onPrevious={pages.previous}
            onNext={() => pages.next(connection.pageInfo.endCursor)}
          />
        </>
      )}

      <ProjectBudgetPanel projectId={project.id} canManage={canManage} readOnlyReasonId={readOnlyId} />

      <CreateApiKeyDialog projectId={project.id} open={creating} onClose={() => setCreating(false)} />
      <RotateApiKeyDialog apiKey={rotating} onClose={() => setRotating(null)} onDeleteOld={(key) => setDeleting(key)} />
      <DeleteApiKeyDialog apiKey={deleting} onClose={() => setDeleting(null)} />
    </>
  );
}

function parseStatus(value: string | null): ApiKeyStatus | null {
  return value === "ACTIVE" || value === "EXPIRED" ? value : null;
}

function withParam(params: URLSearchParams, name: string, value: string): URLSearchParams {
  const next = new URLSearchParams(params);
  if (value) next.set(name, value);
  else next.delete(name);
  return next;
}
