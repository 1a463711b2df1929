import { describe, expect, it } from "vitest";

import { modelsToSend } from "../features/llm-keys/validation";
import { addItems, splitItems } from "./ChipsInput";

describe("custom models as chips", () => {
  it("splits pasted lists on commas, spaces and new lines", () => {
    expect(splitItems("gpt-a, gpt-b\nft:x::y  ")).toEqual(["gpt-a", "gpt-b", "ft:x::y"]);
  });

  it("adds without duplicates, keeping the order", () => {
    expect(addItems(["a", "b"], "b c a d")).toEqual(["a", "b", "c", "d"]);
  });

  it("sends what is still typed in the field too", () => {
    expect(modelsToSend({ customModels: ["a"], pending: " b ", withDefaultModels: true })).toEqual(["a", "b"]);
  });
});
