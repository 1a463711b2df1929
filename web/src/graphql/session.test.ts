import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { CONSOLE_HEADER, REFRESH_LOCK, Session, refreshDelay, type LockManagerLike, type SessionGrant } from "./session";

const NOW = Date.parse("2026-12-02T10:00:00Z");
const user = { id: "u1", email: "ada@example.com", name: "Ada" };

function grant(token: string, lifetimeMs = 15 * 60_000): SessionGrant {
  return { accessToken: token, accessTokenExpiresAt: new Date(Date.now() + lifetimeMs).toISOString(), user };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

const unauthenticated = () =>
  json(401, { errors: [{ message: "Session ended", extensions: { code: "UNAUTHENTICATED" } }] });

/** A fake service: /auth/refresh hands out t1, t2, ... while the cookie is good; /graphql checks the token. */
function fakeService() {
  const state = { cookieGood: true, validTokens: new Set<string>(), refreshes: 0, calls: [] as string[] };
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    state.calls.push(`${url} ${headers.get("Authorization") ?? "-"}`);
    if (url === "/auth/refresh") {
      expect(headers.get("X-Requested-With")).toBe(CONSOLE_HEADER["X-Requested-With"]);
      if (!state.cookieGood) return unauthenticated();
      state.refreshes += 1;
      const token = `t${state.refreshes}`;
      state.validTokens.add(token);
      return json(200, grant(token));
    }
    if (url === "/auth/logout") {
      state.cookieGood = false;
      state.validTokens.clear();
      return new Response(null, { status: 204 });
    }
    const token = headers.get("Authorization")?.replace("Bearer ", "");
    if (token && !state.validTokens.has(token)) return unauthenticated();
    return json(200, { data: { viewer: token ? { __typename: "User" } : null } });
  });
  return { state, fetch };
}

describe("Session", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps the access token in memory and sends it as a bearer token", async () => {
    const service = fakeService();
    service.state.validTokens.add("login-token");
    const session = new Session({ fetch: service.fetch });
    session.begin(grant("login-token"));

    const response = await session.fetch("/graphql", { method: "POST" });

    expect(response.status).toBe(200);
    expect(service.state.calls).toEqual(["/graphql Bearer login-token"]);
    expect(session.getState()).toEqual({ status: "authenticated", user });
  });

  it("restores a session from the refresh cookie after a reload, or says there is none", async () => {
    const service = fakeService();
    const session = new Session({ fetch: service.fetch });
    expect(session.getState().status).toBe("unknown");
    expect(await session.restore()).toBe(true);
    expect(session.getAccessToken()).toBe("t1");

    const noCookie = fakeService();
    noCookie.state.cookieGood = false;
    const anonymous = new Session({ fetch: noCookie.fetch });
    expect(await anonymous.restore()).toBe(false);
    expect(anonymous.getState().status).toBe("anonymous");
  });

  it("asks the service only when this browser may have a session", async () => {
    const service = fakeService();
    let flag = false; // a new browser, or one that logged out
    const hint = { get: () => flag, set: (value: boolean) => (flag = value) };
    const session = new Session({ fetch: service.fetch, hint });

    expect(await session.restore()).toBe(false);
    expect(session.getState().status).toBe("anonymous");
    expect(service.state.calls).toEqual([]);

    flag = true; // logged in earlier, maybe in another tab: ask
    expect(await new Session({ fetch: service.fetch, hint }).restore()).toBe(true);
    expect(flag).toBe(true);
    await session.logout();
    expect(flag).toBe(false);
  });

  it("refreshes silently a minute before the access token expires", async () => {
    const service = fakeService();
    const session = new Session({ fetch: service.fetch });
    session.begin(grant("login-token", 15 * 60_000));

    await vi.advanceTimersByTimeAsync(13 * 60_000);
    expect(service.state.refreshes).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(service.state.refreshes).toBe(1);
    expect(session.getAccessToken()).toBe("t1");

    // And again before the new token expires.
    await vi.advanceTimersByTimeAsync(14 * 60_000);
    expect(service.state.refreshes).toBe(2);
    expect(session.getAccessToken()).toBe("t2");
  });

  it("schedules short-lived tokens at three quarters of their life", () => {
    expect(refreshDelay(15 * 60_000)).toBe(14 * 60_000);
    expect(refreshDelay(60_000)).toBe(45_000);
    expect(refreshDelay(0)).toBe(0);
    expect(refreshDelay(-5)).toBe(0);
  });

  it("retries a request once after a 401, with the refreshed token", async () => {
    const service = fakeService();
    const session = new Session({ fetch: service.fetch });
    session.begin(grant("revoked-token"));

    const response = await session.fetch("/graphql", { method: "POST" });

    expect(response.status).toBe(200);
    expect(service.state.calls).toEqual([
      "/graphql Bearer revoked-token",
      "/auth/refresh -",
      "/graphql Bearer t1",
    ]);
  });

  it("ends the session when the refresh is refused too, and says so once", async () => {
    const service = fakeService();
    service.state.cookieGood = false;
    const onExpired = vi.fn();
    const session = new Session({ fetch: service.fetch, onExpired });
    session.begin(grant("revoked-token"));
    const states: string[] = [];
    session.subscribe((state) => states.push(state.status));

    const response = await session.fetch("/graphql", { method: "POST" });

    expect(response.status).toBe(401);
    expect(session.getState().status).toBe("anonymous");
    expect(session.getAccessToken()).toBeNull();
    expect(onExpired).toHaveBeenCalledTimes(1);
    expect(states).toEqual(["anonymous"]);
    // No second retry: one request, one refresh.
    expect(service.state.calls).toEqual(["/graphql Bearer revoked-token", "/auth/refresh -"]);
  });

  it("shares one refresh between concurrent 401s of the same tab", async () => {
    const service = fakeService();
    const session = new Session({ fetch: service.fetch });
    session.begin(grant("revoked-token"));

    const responses = await Promise.all([
      session.fetch("/graphql", { method: "POST" }),
      session.fetch("/graphql", { method: "POST" }),
      session.fetch("/graphql", { method: "POST" }),
    ]);

    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(service.state.refreshes).toBe(1);
  });

  it("refreshes first when the timer could not fire (a sleeping laptop)", async () => {
    const service = fakeService();
    const session = new Session({ fetch: service.fetch, setTimer: () => 0, clearTimer: () => undefined });
    session.begin(grant("old-token", 60_000));
    vi.setSystemTime(NOW + 2 * 60_000);

    await session.fetch("/graphql", { method: "POST" });

    expect(service.state.calls).toEqual(["/auth/refresh -", "/graphql Bearer t1"]);
  });

  it("serialises refreshes across tabs with one Web Lock", async () => {
    // A lock manager shared by two tabs: the second refresh starts only when the first ended,
    // so the second tab presents the cookie the first one received.
    let held = false;
    const queue: Array<() => void> = [];
    const locks: LockManagerLike = {
      async request(name, callback) {
        expect(name).toBe(REFRESH_LOCK);
        if (held) await new Promise<void>((resolve) => queue.push(resolve));
        held = true;
        try {
          return await callback();
        } finally {
          held = false;
          queue.shift()?.();
        }
      },
    };
    // The cookie rotates: presenting the previous one again would end the session.
    let cookie = 0;
    const presented: number[] = [];
    const fetch = vi.fn(async (input: RequestInfo | URL) => {
      if (String(input) !== "/auth/refresh") return json(200, {});
      const mine = cookie;
      presented.push(mine);
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (mine !== cookie) return unauthenticated();
      cookie += 1;
      return json(200, grant(`t${cookie}`));
    });
    const tabA = new Session({ fetch, locks });
    const tabB = new Session({ fetch, locks });

    const both = Promise.all([tabA.refresh(), tabB.refresh()]);
    await vi.advanceTimersByTimeAsync(200);

    expect(await both).toEqual([true, true]);
    expect(presented).toEqual([0, 1]);
    expect([tabA.getAccessToken(), tabB.getAccessToken()].sort()).toEqual(["t1", "t2"]);
  });

  it("logs out through the cookie endpoint, forgets the token and tells the other tabs", async () => {
    const service = fakeService();
    const messages: unknown[] = [];
    const session = new Session({
      fetch: service.fetch,
      channel: { postMessage: (message) => messages.push(message), addEventListener: () => undefined },
    });
    session.begin(grant("t0"));

    await session.logout();

    expect(service.state.calls).toContain("/auth/logout -");
    expect(session.getAccessToken()).toBeNull();
    expect(session.getState().status).toBe("anonymous");
    expect(messages).toEqual(["logged-out"]);
    // The timer is gone: nothing refreshes a session that was ended on purpose.
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(service.state.calls.filter((call) => call.startsWith("/auth/refresh"))).toEqual([]);
  });

  it("ends this tab's session when another tab logs out", () => {
    let listener: ((event: { data: unknown }) => void) | undefined;
    const onExpired = vi.fn();
    const session = new Session({
      fetch: fakeService().fetch,
      onExpired,
      channel: { postMessage: () => undefined, addEventListener: (_type, l) => (listener = l) },
    });
    session.begin(grant("t0"));

    listener?.({ data: "logged-out" });

    expect(session.getState().status).toBe("anonymous");
    expect(onExpired).toHaveBeenCalledTimes(1);
  });

  it("keeps the session when the service is unreachable, and tries again shortly", async () => {
    let down = true;
    const service = fakeService();
    const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      if (down && String(input) === "/auth/refresh") throw new TypeError("Failed to fetch");
      return service.fetch(input, init);
    });
    const session = new Session({ fetch });
    session.begin(grant("t0", 60_000));

    await vi.advanceTimersByTimeAsync(45_000);
    expect(session.getState().status).toBe("authenticated");
    down = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(session.getAccessToken()).toBe("t1");
  });
});
