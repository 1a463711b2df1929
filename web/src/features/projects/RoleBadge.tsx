import { Badge } from "../../components/Badge";
import type { ProjectRole } from "../../gql/graphql";

export const ROLE_LABELS: Record<ProjectRole, string> = { OWNER: "Owner", ADMIN: "Admin", MEMBER: "Member" };

/** What each role may do, in the service's terms (see `ProjectPermissions`). */
export const ROLE_HELP: Record<ProjectRole, string> = {
  OWNER: "Everything, including members and their roles.",
  ADMIN: "Manages API keys, provider keys and budgets; acknowledges alerts; reads the audit log.",
  MEMBER: "Reads keys, usage and alerts; changes nothing.",
};

export const ROLE_ORDER: ProjectRole[] = ["MEMBER", "ADMIN", "OWNER"];

export function RoleBadge({ role }: { role: ProjectRole }) {
  return <Badge tone={role === "MEMBER" ? "neutral" : "info"}>{ROLE_LABELS[role]}</Badge>;
}
