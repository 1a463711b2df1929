import { useState, type FormEvent } from "react";

import { Dialog } from "../../components/Dialog";
import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import type { ProjectRole } from "../../gql/graphql";
import { RoleFields } from "./RoleFields";
import { useAddProjectMember } from "./useAddProjectMember";

type AddMemberDialogProps = {
  projectId: string;
  projectName: string;
  open: boolean;
  onClose: () => void;
};

/** Adds an existing account by its email, with a role; they see the project at once. */
export function AddMemberDialog({ projectId, projectName, open, onClose }: AddMemberDialogProps) {
  const addMember = useAddProjectMember();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<ProjectRole>("MEMBER");
  const [blank, setBlank] = useState(false);

  function close() {
    setEmail("");
    setRole("MEMBER");
    setBlank(false);
    addMember.reset();
    onClose();
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBlank(email.trim() === "");
    if (email.trim() === "") return;
    const outcome = await addMember.run({ input: { projectId, email: email.trim(), role } });
    if (outcome.ok) close();
  }

  const failed = addMember.outcome?.ok === false ? addMember.outcome : null;
  return (
    <Dialog open={open} title="Add member" onClose={close}
      description={`They need an account already. They can open ${projectName} as soon as you add them.`}>
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <form className="form" onSubmit={(event) => void submit(event)} noValidate>
        <FormErrors messages={failed?.errors.form ?? []} />
        <FormField label="Email" error={blank ? "Enter the email of their account." : failed?.errors.fields.email}>
          {(props) => (
            <input {...props} className="input" type="email" autoComplete="off" autoFocus value={email}
              onChange={(event) => setEmail(event.target.value)} />
          )}
        </FormField>
        <RoleFields value={role} onChange={setRole} error={failed?.errors.fields.role} />
        <div className="form__actions">
          <button type="button" className="button button--secondary" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={addMember.fetching}>
            Add member
          </button>
        </div>
      </form>
    </Dialog>
  );
}
