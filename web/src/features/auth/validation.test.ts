import { describe, expect, it } from "vitest";

import { loginPathFor, requireFilled, safeNext } from "./validation";

describe("the intended URL kept through the login page", () => {
  it("round-trips a deep link with its query", () => {
    const login = loginPathFor({ pathname: "/projects/p1/settings/api-keys", search: "?search=prod" });
    expect(login).toBe("/login?next=%2Fadmin%2Fprojects%2Fp1%2Fsettings%2Fapi-keys%3Fsearch%3Dprod");
    const next = new URLSearchParams(login.split("?")[1]).get("next");
    expect(safeNext(next)).toBe("/projects/p1/settings/api-keys?search=prod");
  });

  it("never leads to another site", () => {
    expect(safeNext("https://evil.example/admin/")).toBe("/projects");
    expect(safeNext("//evil.example/admin/x")).toBe("/projects");
    expect(safeNext("/admin/\\evil.example")).toBe("/projects");
    expect(safeNext("/graphql")).toBe("/projects");
    expect(safeNext(null)).toBe("/projects");
  });
});

describe("requireFilled", () => {
  it("names every empty field at once", () => {
    expect(requireFilled({ email: " ", password: "" }, { email: "Email", password: "Password" })).toEqual({
      email: "Enter your email.",
      password: "Enter your password.",
    });
    expect(requireFilled({ email: "a@b.c" }, { email: "Email" })).toEqual({});
  });
});
