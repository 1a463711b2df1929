import { useSearchParams } from "react-router";
import { useQuery } from "urql";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Notice } from "../../components/Notice";
import { graphql } from "../../gql";
import { describeFailure } from "../../graphql/errors";
import { useProject } from "../projects/ProjectLayout";
import { AuditEventList } from "./AuditEventList";
import { actionLabel } from "./eventInWords";

const AuditFiltersQuery = graphql(`
  query AuditFilters($projectId: ID!) {
    project(id: $projectId) {
      id
      auditActions
      members(first: 100) {
        edges {
          node {
            user {
              id
              name
              email
            }
          }
        }
      }
    }
  }
`);

/** What was done in the project, by whom and from where; read-only, for owners and admins. */
export function AuditLogPage() {
  const project = useProject();
  const canRead = project.viewerCan.readAuditLog;

  return (
    <>
      <header className="page-header">
        <h1 className="page-header__title">Audit log</h1>
        <p className="page-header__lead">
          Every change to this project’s keys, budgets and members: who made it, when, and from
          which address. Secrets are never recorded.
        </p>
      </header>
      {canRead ? (
        <AuditLog projectId={project.id} />
      ) : (
        <Notice>
          Only this project’s owners and admins can read its audit log. Ask one of them if you need
          to know who changed something.
        </Notice>
      )}
    </>
  );
}

function AuditLog({ projectId }: { projectId: string }) {
  const [params, setParams] = useSearchParams();
  const action = params.get("action");
  const actorId = params.get("actor");
  const [options] = useQuery({ query: AuditFiltersQuery, variables: { projectId } });
  const actions = options.data?.project?.auditActions ?? [];
  const people = (options.data?.project?.members.edges ?? [])
    .map((edge) => edge.node.user)
    .filter((user): user is NonNullable<typeof user> => Boolean(user))
    .sort((a, b) => a.name.localeCompare(b.name));

  function filter(name: string, value: string) {
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value) next.set(name, value);
        else next.delete(name);
        return next;
      },
      { replace: true },
    );
  }

  return (
    <>
      <div className="toolbar" role="search" aria-label="Filter the audit log">
        <div className="toolbar__filter">
          <label className="toolbar__filter-label" htmlFor="audit-action">
            Action
          </label>
          <select id="audit-action" className="input select" value={action ?? ""} onChange={(event) => filter("action", event.target.value)}>
            <option value="">Every action</option>
            {actions.map((value) => (
              <option key={value} value={value}>
                {actionLabel(value)}
              </option>
            ))}
          </select>
        </div>
        <div className="toolbar__filter">
          <label className="toolbar__filter-label" htmlFor="audit-actor">
            Who
          </label>
          <select id="audit-actor" className="input select" value={actorId ?? ""} onChange={(event) => filter("actor", event.target.value)}>
            <option value="">Anyone</option>
            {people.map((user) => (
              <option key={user.id} value={user.id}>
                {user.name} ({user.email})
              </option>
            ))}
          </select>
        </div>
      </div>
      {options.error && <ErrorBanner failure={describeFailure(options.error)} />}
      <AuditEventList
        projectId={projectId}
        filters={{ action, actorId, targetId: null }}
        caption="Audit log"
        empty={action || actorId ? "No event matches these filters." : "Nothing has been recorded yet."}
      />
    </>
  );
}
