import { describe, expect, it } from "vitest";

import { hasErrors, mapUserErrors } from "./userErrors";

describe("mapUserErrors", () => {
  it("puts every error next to its field, all at once", () => {
    const errors = mapUserErrors(
      [
        { field: ["note"], message: "Enter a note." },
        { field: ["expiresAt"], message: "Choose a time in the future." },
      ],
      ["note", "expiresAt"],
    );
    expect(errors.fields).toEqual({ note: "Enter a note.", expiresAt: "Choose a time in the future." });
    expect(errors.form).toEqual([]);
    expect(hasErrors(errors)).toBe(true);
  });

  it("keeps the index of an error about one item of a list", () => {
    const errors = mapUserErrors(
      [{ field: ["customModels", "2"], message: "No spaces in a model id." }],
      ["customModels", "withDefaultModels"],
    );
    expect(errors.fields.customModels).toBe("No spaces in a model id.");
    expect(errors.items.customModels).toEqual({ 2: "No spaces in a model id." });
  });

  it("shows errors about the whole input, or about fields the form lacks, above the form", () => {
    const errors = mapUserErrors(
      [
        { field: null, message: "You cannot manage this project's keys." },
        { field: ["projectId"], message: "Project not found." },
      ],
      ["note"],
    );
    expect(errors.fields).toEqual({});
    expect(errors.form).toEqual(["You cannot manage this project's keys.", "Project not found."]);
  });

  it("joins two messages about the same field", () => {
    const errors = mapUserErrors(
      [
        { field: ["customModels", "0"], message: "Too long." },
        { field: ["customModels", "3"], message: "Has a space." },
      ],
      ["customModels"],
    );
    expect(errors.fields.customModels).toBe("Too long. Has a space.");
    expect(errors.items.customModels).toEqual({ 0: "Too long.", 3: "Has a space." });
  });

  it("finds fields nested inside the input under a prefix", () => {
    const errors = mapUserErrors(
      [
        { field: ["policy", "allowedIps", "1"], message: "Not an address." },
        { field: ["policy", "tokenBudget", "limit"], message: "Too large." },
        { field: ["id"], message: "API key not found." },
      ],
      ["allowedIps", "tokenBudget"],
      ["policy"],
    );
    expect(errors.fields).toEqual({ allowedIps: "Not an address.", tokenBudget: "Too large." });
    expect(errors.items.allowedIps).toEqual({ 1: "Not an address." });
    expect(errors.form).toEqual(["API key not found."]);
  });

  it("has nothing to show for no errors", () => {
    expect(hasErrors(mapUserErrors([], ["note"]))).toBe(false);
  });
});
