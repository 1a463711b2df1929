import { ChipsInput } from "../../components/ChipsInput";
import type { FieldErrors } from "../../graphql/userErrors";
import type { ModelsValues } from "./validation";

type ModelsFieldsProps = {
  values: ModelsValues;
  onChange: (values: ModelsValues) => void;
  errors: FieldErrors<"customModels" | "withDefaultModels"> | null;
};

/** Custom models as chips and the default-models switch, shared by Add and Edit models. */
export function ModelsFields({ values, onChange, errors }: ModelsFieldsProps) {
  return (
    <>
      <ChipsInput
        label="Custom models"
        values={values.customModels}
        pending={values.pending}
        onChange={(next) => onChange({ ...values, customModels: next.values, pending: next.pending })}
        error={errors?.fields.customModels}
        itemErrors={errors?.items.customModels}
        hint="Model ids this key also routes, such as fine-tuned models. Optional."
      />
      <div className={`field field--check${errors?.fields.withDefaultModels ? " field--invalid" : ""}`}>
        <label className="check">
          <input type="checkbox" className="check__box" checked={values.withDefaultModels}
            onChange={(event) => onChange({ ...values, withDefaultModels: event.target.checked })} />
          <span>Include default models</span>
        </label>
        <p className="field__hint">The provider’s published models, from the service’s catalog.</p>
        {errors?.fields.withDefaultModels && <p className="field__error">{errors.fields.withDefaultModels}</p>}
      </div>
    </>
  );
}
