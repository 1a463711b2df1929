import { Link } from "react-router";
import { useQuery } from "urql";

import { Badge } from "../../components/Badge";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading } from "../../components/Notice";
import { Table } from "../../components/Table";
import { graphql } from "../../gql";
import { describeFailure } from "../../graphql/errors";
import { formatDate } from "../../lib/dates";
import { CreateProjectForm } from "./CreateProjectForm";
import { RoleBadge } from "./RoleBadge";

const MyProjectsQuery = graphql(`
  query MyProjects {
    projects(first: 100) {
      totalCount
      edges {
        node {
          id
          name
          viewerRole
          createdAt
        }
      }
    }
  }
`);

export function ProjectsPage() {
  const [result, reexecute] = useQuery({ query: MyProjectsQuery, context: PROJECT_CONTEXT });
  const projects = result.data?.projects.edges.map((edge) => edge.node) ?? [];

  return (
    <>
      <header className="page-header">
        <h1 className="page-header__title">Projects</h1>
        <p className="page-header__lead">Each project has its own API keys, provider keys and members.</p>
      </header>
      {result.error && (
        <ErrorBanner failure={describeFailure(result.error)} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
      )}
      {result.fetching && !result.data && <Loading />}
      {result.data && projects.length === 0 && (
        <div className="empty">
          <p className="empty__title">No projects yet</p>
          <p>Create your first project below; you will be its owner.</p>
        </div>
      )}
      {projects.length > 0 && (
        <Table
          caption="Your projects"
          head={
            <tr>
              <th scope="col">Project</th>
              <th scope="col">Your role</th>
              <th scope="col">Created</th>
            </tr>
          }
        >
          {projects.map((project) => (
            <tr key={project.id}>
              <td data-label="Project">
                <Link className="strong-link" to={`/projects/${project.id}/settings/api-keys`}>
                  {project.name}
                </Link>
              </td>
              <td data-label="Your role">
                {project.viewerRole ? <RoleBadge role={project.viewerRole} /> : <Badge>API key</Badge>}
              </td>
              <td data-label="Created">{formatDate(project.createdAt)}</td>
            </tr>
          ))}
        </Table>
      )}
      <CreateProjectForm />
    </>
  );
}

/** A new project must show up even when the list was empty (urql cannot know it changed). */
const PROJECT_CONTEXT = { additionalTypenames: ["Project"] };
