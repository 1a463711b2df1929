import { Badge } from "../../components/Badge";
import type { ProjectRole } from "../../gql/graphql";

const LABELS: Record<ProjectRole, string> = { OWNER: "Owner", ADMIN: "Admin", MEMBER: "Member" };

export function RoleBadge({ role }: { role: ProjectRole }) {
  return <Badge tone={role === "MEMBER" ? "neutral" : "info"}>{LABELS[role]}</Badge>;
}
