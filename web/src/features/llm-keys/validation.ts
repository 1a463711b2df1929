import { addItems } from "../../components/ChipsInput";

export type ModelsValues = { customModels: string[]; pending: string; withDefaultModels: boolean };

/** The custom models a form sends: its chips plus whatever is still typed in the field. */
export function modelsToSend(values: ModelsValues): string[] {
  return addItems(values.customModels, values.pending);
}

export function checkSecret(secret: string): string | null {
  return secret.trim() === "" ? "Paste the key from the provider’s dashboard." : null;
}
