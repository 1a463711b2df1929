import { useQuery } from "urql";

import { graphql } from "../../gql";

const OpenAlertsCountQuery = graphql(`
  query OpenAlertsCount($projectId: ID!) {
    project(id: $projectId) {
      id
      securityAlerts(first: 0) {
        totalCount
      }
    }
  }
`);

/**
 * The open alerts' count beside "Security alerts" in the navigation. The answer holds no alert,
 * so it names the type for urql: acknowledging one (a SecurityAlert in the mutation's answer)
 * then refetches the count.
 */
const COUNT_CONTEXT = { additionalTypenames: ["SecurityAlert"] };

/** The open count, or 0 while it loads or when there is none. */
export function useOpenAlertCount(projectId: string, enabled: boolean): number {
  const [result] = useQuery({
    query: OpenAlertsCountQuery,
    variables: { projectId },
    context: COUNT_CONTEXT,
    pause: !enabled,
  });
  return result.data?.project?.securityAlerts.totalCount ?? 0;
}

/** The count beside the link's text; read out as "Security alerts 2 open". */
export function OpenAlertsBadge({ open }: { open: number }) {
  if (open === 0) return null;
  return (
    <span className="nav-count">
      {open > 99 ? "99+" : open}
      <span className="visually-hidden"> open</span>
    </span>
  );
}
