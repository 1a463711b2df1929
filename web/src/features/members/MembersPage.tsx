import { useId, useState } from "react";
import { useQuery } from "urql";
import { useCursorPages } from "../../lib/useCursorPages";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading, Notice } from "../../components/Notice";
import { Pagination, Table } from "../../components/Table";
import { graphql } from "../../gql";
import { pageSummary } from "../../lib/numbers";
import { describeFailure } from "../../graphql/errors";
import { formatDate } from "../../lib/dates";
import { useSessionState } from "../auth/useSession";
import { RoleBadge } from "../projects/RoleBadge";
import { useProject } from "../projects/ProjectLayout";
import { AddMemberDialog } from "./AddMemberDialog";
import { ChangeRoleDialog, type MemberToChange } from "./ChangeRoleDialog";
import { RemoveMemberDialog, type MemberToRemove } from "./RemoveMemberDialog";

const PAGE_SIZE = 50;

const MembersQuery = graphql(`
  query Members($projectId: ID!, $first: Int!, $after: String) {
    project(id: $projectId) {
      id
      members(first: $first, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            ...MemberFields
          }
        }
      }
    }
  }
`);

/** Added or removed members change the list: it refetches (see useFormMutation). */
const MEMBERS_CONTEXT = { additionalTypenames: ["ProjectMember"] };

export function MembersPage() {
  const project = useProject();
  const canManage = project.viewerCan.manageMembers;
  const session = useSessionState();
  const viewerId = session.status === "authenticated" ? session.user.id : null;
  const readOnlyId = useId();
  const pages = useCursorPages(PAGE_SIZE);
  const [adding, setAdding] = useState(false);
  const [changing, setChanging] = useState<MemberToChange | null>(null);
  const [removing, setRemoving] = useState<MemberToRemove | null>(null);

  const [result, reexecute] = useQuery({
    query: MembersQuery,
    variables: { projectId: project.id, first: PAGE_SIZE, after: pages.after },
    context: MEMBERS_CONTEXT,
  });
  const connection = result.data?.project?.members;
  const members = connection?.edges.map((edge) => edge.node) ?? [];

  return (
    <>
      <header className="page-header page-header--with-action">
        <div>
          <h1 className="page-header__title">Members</h1>
          <p className="page-header__lead">
            The people who can open this project, and what each may do.
          </p>
        </div>
        <button type="button" className="button button--primary" disabled={!canManage}
          aria-describedby={canManage ? undefined : readOnlyId} onClick={() => setAdding(true)}>
          Add member
        </button>
      </header>

      {!canManage && (
        <Notice id={readOnlyId}>
          You can see who belongs to this project. Only its owners can add or remove members and
          change their roles.
        </Notice>
      )}

      {result.error && (
        <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
      )}
      {result.fetching && !result.data && <Loading label="Loading members…" />}

      {connection && (
        <>
          <Table
            caption="Members of this project"
            head={
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Joined</th>
                <th scope="col"><span className="visually-hidden">Actions</span></th>
              </tr>
            }
          >
            {members.map((member) => {
              const user = member.user;
              const name = user?.name ?? "A deleted account";
              const isViewer = user !== null && user !== undefined && user.id === viewerId;
              const nameId = `member-${user?.id ?? member.joinedAt}`;
              const describedBy = [nameId, canManage ? null : readOnlyId].filter(Boolean).join(" ");
              return (
                <tr key={user?.id ?? member.joinedAt}>
                  <td data-label="Name" className="cell-note">
                    <span className="cell-note__text" id={nameId}>
                      {name}
                    </span>
                    {isViewer && <span className="cell-hint">You</span>}
                  </td>
                  <td data-label="Email" className="cell-email">{user?.email ?? "—"}</td>
                  <td data-label="Role"><RoleBadge role={member.role} /></td>
                  <td data-label="Joined" className="cell-date">{formatDate(member.joinedAt)}</td>
                  <td data-label="Actions" className="cell-actions">
                    {user && (
                      <div className="row-actions">
                        <button type="button" className="button button--ghost button--small" disabled={!canManage}
                          aria-describedby={describedBy}
                          onClick={() => setChanging({ userId: user.id, name, role: member.role, isViewer })}>
                          Change role
                        </button>
                        <button type="button" className="button button--ghost-danger button--small" disabled={!canManage}
                          aria-describedby={describedBy}
                          onClick={() => setRemoving({ userId: user.id, name, isViewer })}>
                          Remove
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              );
            })}
          </Table>
          <Pagination
            label="Members pages"
            summary={pageSummary(pages.pageStart, members.length, connection.totalCount, ["member", "members"])}
            hasPrevious={pages.hasPrevious}
            hasNext={connection.pageInfo.hasNextPage}
            onPrevious={pages.previous}
            onNext={() => pages.next(connection.pageInfo.endCursor)}
          />
        </>
      )}

      <AddMemberDialog projectId={project.id} projectName={project.name} open={adding} onClose={() => setAdding(false)} />
      <ChangeRoleDialog projectId={project.id} member={changing} onClose={() => setChanging(null)} />
      <RemoveMemberDialog projectId={project.id} projectName={project.name} member={removing}
        onClose={() => setRemoving(null)} />
    </>
  );
}
