import { useState, type FormEvent, type KeyboardEvent } from "react";

import { ErrorBanner } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import { useUpdateApiKeyNote } from "./useUpdateApiKeyNote";
import { checkNote } from "./validation";

type EditNoteFormProps = {
  apiKey: { id: string; note: string };
  onDone: () => void;
};

/** The note, edited in place in its table cell; the secret stays the same. */
export function EditNoteForm({ apiKey, onDone }: EditNoteFormProps) {
  const updateNote = useUpdateApiKeyNote();
  const [note, setNote] = useState(apiKey.note);
  const [check, setCheck] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const problem = checkNote(note);
    setCheck(problem);
    if (problem) return;
    const outcome = await updateNote.run({ input: { id: apiKey.id, note } });
    if (outcome.ok) onDone();
  }

  function onKeyDown(event: KeyboardEvent) {
    if (event.key === "Escape") {
      event.stopPropagation();
      onDone();
    }
  }

  const failed = updateNote.outcome?.ok === false ? updateNote.outcome : null;
  const error = check ?? failed?.errors.fields.note ?? failed?.errors.form.join(" ");

  return (
    <form className="inline-edit" onSubmit={(event) => void submit(event)} onKeyDown={onKeyDown} noValidate>
      {failed?.failure && <ErrorBanner failure={failed.failure} />}
      <FormField label="Note" error={error || undefined}>
        {(props) => (
          <input {...props} className="input input--small" value={note} autoFocus
            onChange={(event) => setNote(event.target.value)} />
        )}
      </FormField>
      <div className="inline-edit__actions">
        <button type="submit" className="button button--primary button--small" disabled={updateNote.fetching}>
          Save
        </button>
        <button type="button" className="button button--secondary button--small" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
