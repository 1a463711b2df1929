import { NavLink, Outlet, useOutletContext, useParams } from "react-router";
import { useQuery } from "urql";

import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading } from "../../components/Notice";
import { graphql } from "../../gql";
import type { ProjectHeaderFieldsFragment } from "../../gql/graphql";
import { describeFailure } from "../../graphql/errors";
import { OpenAlertsBadge, useOpenAlertCount } from "../alerts/OpenAlertsBadge";
import { RoleBadge } from "./RoleBadge";

graphql(`
  fragment ProjectHeaderFields on Project {
    id
    name
    viewerRole
    viewerCan {
      manageApiKeys
      manageLlmApiKeys
      manageMembers
      acknowledgeSecurityAlerts
      readMembers
      readLlmApiKeys
      readSecurityAlerts
      readClientIps
      readAuditLog
      readWebhooks
      manageWebhooks
    }
  }
`);

const ProjectHeaderQuery = graphql(`
  query ProjectHeader($id: ID!) {
    project(id: $id) {
      ...ProjectHeaderFields
    }
  }
`);

export type ProjectContext = { project: ProjectHeaderFieldsFragment };

/** The settings pages of one project: its name, the viewer's role and the settings tabs. */
export function ProjectLayout() {
  const { projectId = "" } = useParams();
  const [result, reexecute] = useQuery({ query: ProjectHeaderQuery, variables: { id: projectId } });
  const openAlerts = useOpenAlertCount(projectId, result.data?.project?.viewerCan.readSecurityAlerts ?? false);

  if (result.error) {
    return (
      <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
    );
  }
  if (!result.data) return <Loading />;
  const project = result.data.project;
  if (!project) {
    return (
      <div className="empty">
        <h1 className="empty__title">Project not found</h1>
        <p>It does not exist, or you are not one of its members.</p>
      </div>
    );
  }

  return (
    <>
      <div className="project-bar">
        <p className="project-bar__name">
          <span className="visually-hidden">Project: </span>
          {project.name}
        </p>
        {project.viewerRole && <RoleBadge role={project.viewerRole} />}
      </div>
      <nav className="tabs" aria-label="Project">
        <div className="tabs__group">
          <NavLink className="tabs__tab" to={`/projects/${project.id}/usage`}>
            Usage
          </NavLink>
          {project.viewerCan.readSecurityAlerts && (
            <NavLink className="tabs__tab" to={`/projects/${project.id}/alerts`}>
              Security alerts
              <OpenAlertsBadge open={openAlerts} />
            </NavLink>
          )}
          <NavLink className="tabs__tab" to={`/projects/${project.id}/audit`}>
            Audit log
          </NavLink>
        </div>
        <div className="tabs__group tabs__group--settings">
          <span className="tabs__heading" aria-hidden="true">
            Settings
          </span>
          <NavLink className="tabs__tab" to={`/projects/${project.id}/settings/api-keys`}>
            API keys
          </NavLink>
          <NavLink className="tabs__tab" to={`/projects/${project.id}/settings/llm-api-keys`}>
            LLM API keys
          </NavLink>
          {project.viewerCan.readMembers && (
            <NavLink className="tabs__tab" to={`/projects/${project.id}/settings/members`}>
              Members
            </NavLink>
          )}
          <NavLink className="tabs__tab" to={`/projects/${project.id}/settings/webhooks`}>
            Webhooks
          </NavLink>
        </div>
      </nav>
      <Outlet context={{ project } satisfies ProjectContext} />
    </>
  );
}

export function useProject(): ProjectHeaderFieldsFragment {
  return useOutletContext<ProjectContext>().project;
}
