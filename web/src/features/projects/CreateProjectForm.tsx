import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";

import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import { useCreateProject } from "./useCreateProject";

export function CreateProjectForm() {
  const navigate = useNavigate();
  const createProject = useCreateProject();
  const [name, setName] = useState("");
  const [blank, setBlank] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBlank(name.trim() === "");
    if (name.trim() === "") return;
    const outcome = await createProject.run({ input: { name } });
    if (outcome.ok && outcome.payload.project) {
      navigate(`/projects/${outcome.payload.project.id}/settings/api-keys`);
    }
  }

  const outcome = createProject.outcome?.ok === false ? createProject.outcome : null;
  const error = blank ? "Enter a name for the project." : outcome?.errors.fields.name;

  return (
    <section className="panel" aria-labelledby="new-project-heading">
      <h2 id="new-project-heading" className="panel__title">
        New project
      </h2>
      {outcome?.failure && <ErrorBanner failure={outcome.failure} />}
      <form className="form form--inline" onSubmit={(event) => void submit(event)} noValidate>
        <FormErrors messages={outcome?.errors.form ?? []} />
        <FormField label="Project name" error={error} className="field--grow">
          {(props) => (
            <input {...props} className="input" value={name} placeholder="e.g. Support assistant"
              onChange={(event) => setName(event.target.value)} required />
          )}
        </FormField>
        <button type="submit" className="button button--primary" disabled={createProject.fetching}>
          Create project
        </button>
      </form>
    </section>
  );
}
