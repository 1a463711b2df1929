import { useEffect, useState, type FormEvent } from "react";

import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import type { ProjectRole } from "../../gql/graphql";
import { ROLE_LABELS } from "../projects/RoleBadge";
import { RoleFields } from "./RoleFields";
import { useUpdateProjectMemberRole } from "./useUpdateProjectMemberRole";

const AS_ROLE: Record<ProjectRole, string> = { OWNER: "an owner", ADMIN: "an admin", MEMBER: "a member" };

export type MemberToChange = { userId: string; name: string; role: ProjectRole; isViewer: boolean };

type ChangeRoleDialogProps = {
  projectId: string;
  member: MemberToChange | null;
  onClose: () => void;
};

/** A new role for one member, applied at once; the project's last owner keeps the role. */
export function ChangeRoleDialog({ projectId, member, onClose }: ChangeRoleDialogProps) {
  const changeRole = useUpdateProjectMemberRole();
  const [role, setRole] = useState<ProjectRole>(member?.role ?? "MEMBER");

  useEffect(() => {
    if (member) setRole(member.role);
  }, [member]);

  function close() {
    changeRole.reset();
    onClose();
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!member) return;
    const outcome = await changeRole.run({ input: { projectId, userId: member.userId, role } });
    if (outcome.ok) close();
  }

  const failed = changeRole.outcome?.ok === false ? changeRole.outcome : null;
  const lowering = member?.isViewer && member.role === "OWNER" && role !== "OWNER";
  return (
    <Dialog
      open={member !== null}
      title={!member ? "Change role" : member.isViewer ? "Change your own role" : `Change ${member.name}’s role`}
      onClose={close}
      description={
        !member
          ? undefined
          : member.isViewer
            ? `You are ${AS_ROLE[member.role]} of this project now.`
            : `Now ${ROLE_LABELS[member.role]}. The new role applies from their next request.`
      }
    >
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <form className="form" onSubmit={(event) => void submit(event)} noValidate>
        <FormErrors messages={failed?.errors.form ?? []} />
        <RoleFields value={role} onChange={setRole} error={failed?.errors.fields.role} />
        {lowering && (
          <p className="banner banner--warning">
            This is your own role: once changed, you can no longer manage members.
          </p>
        )}
        <div className="form__actions">
          <button type="button" className="button button--secondary" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={changeRole.fetching || role === member?.role}>
            Change role
          </button>
        </div>
      </form>
    </Dialog>
  );
}
