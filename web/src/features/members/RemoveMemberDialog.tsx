import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { useRemoveProjectMember } from "./useRemoveProjectMember";

export type MemberToRemove = { userId: string; name: string; isViewer: boolean };

type RemoveMemberDialogProps = {
  projectId: string;
  projectName: string;
  member: MemberToRemove | null;
  onClose: () => void;
};

export function RemoveMemberDialog({ projectId, projectName, member, onClose }: RemoveMemberDialogProps) {
  const removeMember = useRemoveProjectMember();
  const failed = removeMember.outcome?.ok === false ? removeMember.outcome : null;

  function close() {
    removeMember.reset();
    onClose();
  }

  async function confirm() {
    if (!member) return;
    const outcome = await removeMember.run({ input: { projectId, userId: member.userId } });
    if (outcome.ok) close();
  }

  return (
    <Dialog
      open={member !== null}
      title={member ? `Remove ${member.name} from ${projectName}?` : "Remove member"}
      onClose={close}
      description={
        member && (
          <p>
            {member.isViewer
              ? "You lose access to this project at once. Another owner can add you again."
              : "They lose access to this project at once. Keys they created keep working."}
          </p>
        )
      }
    >
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormErrors messages={failed?.errors.form ?? []} />
      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={close} autoFocus>
          Cancel
        </button>
        <button type="button" className="button button--danger" disabled={removeMember.fetching} onClick={() => void confirm()}>
          Remove
        </button>
      </div>
    </Dialog>
  );
}
