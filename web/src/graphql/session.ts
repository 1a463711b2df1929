/**
 * The browser session.
 *
 * - The access token lives in this object only (memory): never in localStorage, sessionStorage or
 *   a cookie a script can read. A reload starts without it and asks `/auth/refresh` for a new one.
 * - The refresh token is an HttpOnly cookie scoped to `/auth`: scripts never see it, and the
 *   browser sends it to the two session endpoints only.
 * - A refresh is scheduled shortly before the access token expires (silent refresh).
 * - Refresh tokens work once, and presenting a used one ends the whole session. Two tabs sharing
 *   the cookie must therefore never refresh at the same time: every refresh runs inside a Web
 *   Lock that all tabs of this origin share, so the second tab sends the cookie the first one
 *   received.
 * - A GraphQL request answered with 401 is retried once after a refresh; when that fails too the
 *   session is over and the app goes back to the login page, keeping the URL the person wanted.
 */

export type SessionUser = { id: string; email: string; name: string };

export type SessionGrant = {
  accessToken: string;
  /** ISO 8601 instant. */
  accessTokenExpiresAt: string;
  user: SessionUser;
};

export type SessionState =
  | { status: "unknown" }
  | { status: "anonymous" }
  | { status: "authenticated"; user: SessionUser };

/** The part of the Web Locks API the session needs (a stand-in for browsers without it). */
export type LockManagerLike = {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
};

export type SessionDeps = {
  fetch: typeof fetch;
  locks?: LockManagerLike | undefined;
  now?: () => number;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** Called once when a session that existed ends without the person logging out. */
  onExpired?: () => void;
  /** Called when another tab of this origin logs out. */
  channel?: BroadcastChannelLike | undefined;
  /**
   * Whether this browser may have a session: a plain flag, no secret, so a visitor who never
   * logged in is not sent to `/auth/refresh` (an expected 401 is still noise in every console).
   */
  hint?: SessionHint | undefined;
};

export type SessionHint = { get(): boolean; set(value: boolean): void };

export type BroadcastChannelLike = {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
};

/** The name of the lock every tab takes before presenting the refresh cookie. */
export const REFRESH_LOCK = "traylinx-console-refresh";
/** The session endpoints refuse requests without this header (a CSRF guard). */
export const CONSOLE_HEADER = { "X-Requested-With": "traylinx-console" } as const;

/** Refresh this long before the access token expires (15 minutes by default)... */
const REFRESH_MARGIN_MS = 60_000;
/** ...and retry this soon when the service could not be reached. */
const RETRY_DELAY_MS = 5_000;

/**
 * How long to wait before refreshing a token that is valid for `lifetimeMs` more: a minute before
 * it expires, or at three quarters of its life when it lives less than two minutes.
 */
export function refreshDelay(lifetimeMs: number): number {
  if (lifetimeMs <= 0) return 0;
  return lifetimeMs > 2 * REFRESH_MARGIN_MS ? lifetimeMs - REFRESH_MARGIN_MS : lifetimeMs * 0.75;
}

export class SessionEndedError extends Error {
  constructor() {
    super("Your session has ended. Log in again.");
    this.name = "SessionEndedError";
  }
}

export class Session {
  private accessToken: string | null = null;
  private expiresAt = 0;
  private state: SessionState = { status: "unknown" };
  private listeners = new Set<(state: SessionState) => void>();
  private timer: unknown = null;
  private inFlight: Promise<boolean> | null = null;
  private readonly deps: Required<Omit<SessionDeps, "locks" | "onExpired" | "channel" | "hint">> &
    Pick<SessionDeps, "locks" | "onExpired" | "channel" | "hint">;

  constructor(deps: SessionDeps) {
    this.deps = {
      now: () => Date.now(),
      setTimer: (callback, ms) => setTimeout(callback, ms),
      clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      ...deps,
    };
    this.deps.channel?.addEventListener("message", (event) => {
      // Another tab logged out: this tab's tokens stopped working with it.
      if (event.data === "logged-out") this.end();
    });
  }

  getState(): SessionState {
    return this.state;
  }

  /** For React's useSyncExternalStore. */
  subscribe = (listener: (state: SessionState) => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getAccessToken(): string | null {
    return this.accessToken;
  }

  /** Start from a log-in or sign-up answer. */
  begin(grant: SessionGrant): void {
    this.accessToken = grant.accessToken;
    this.expiresAt = Date.parse(grant.accessTokenExpiresAt);
    this.setState({ status: "authenticated", user: grant.user });
    this.deps.hint?.set(true);
    this.schedule();
  }

  /** At start-up: is there a session (a refresh cookie) to pick up? */
  async restore(): Promise<boolean> {
    if (this.state.status === "authenticated") return true;
    if (this.deps.hint && !this.deps.hint.get()) {
      this.setState({ status: "anonymous" });
      return false;
    }
    const ok = await this.refresh();
    if (!ok) this.setState({ status: "anonymous" });
    return ok;
  }

  /**
   * Exchange the refresh cookie for a new access token. Concurrent callers in this tab share one
   * request; other tabs wait for the lock.
   */
  refresh(): Promise<boolean> {
    this.inFlight ??= this.refreshUnderLock().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  async logout(): Promise<void> {
    const wasAuthenticated = this.state.status === "authenticated";
    // Under the lock too, so a refresh another tab is running cannot revive the session.
    await this.withLock(async () => {
      try {
        await this.deps.fetch("/auth/logout", {
          method: "POST",
          headers: CONSOLE_HEADER,
          credentials: "same-origin",
        });
      } catch {
        // The cookie stays, but this tab forgets the session either way.
      }
    });
    this.clear();
    this.setState({ status: "anonymous" });
    if (wasAuthenticated) this.deps.channel?.postMessage("logged-out");
  }

  /**
   * `fetch` for GraphQL requests: adds the access token, and on a 401 refreshes once and retries.
   * When the retry is refused too, the session is over: `onExpired` runs (the app shows the login
   * page with the intended URL) and the 401 response is returned to the caller.
   */
  fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    if (this.accessToken !== null && this.deps.now() >= this.expiresAt) {
      // The timer did not fire (a sleeping laptop, a throttled background tab): refresh first.
      await this.refresh();
    }
    const first = await this.deps.fetch(input, this.authorize(init));
    if (first.status !== 401) return first;
    const refreshed = await this.refresh();
    if (!refreshed) {
      this.end();
      return first;
    }
    const second = await this.deps.fetch(input, this.authorize(init));
    if (second.status === 401) this.end();
    return second;
  };

  private authorize(init: RequestInit): RequestInit {
    const headers = new Headers(init.headers);
    if (this.accessToken !== null) headers.set("Authorization", `Bearer ${this.accessToken}`);
    else headers.delete("Authorization");
    return { ...init, headers };
  }

  private async refreshUnderLock(): Promise<boolean> {
    return this.withLock(async () => {
      let response: Response;
      try {
        response = await this.deps.fetch("/auth/refresh", {
          method: "POST",
          headers: CONSOLE_HEADER,
          credentials: "same-origin",
        });
      } catch {
        // The service is unreachable: keep the session (the cookie may still be good) and try
        // again shortly, instead of sending the person to the login page.
        if (this.state.status === "authenticated") this.scheduleIn(RETRY_DELAY_MS);
        return false;
      }
      if (!response.ok) {
        this.clear();
        return false;
      }
      const grant = (await response.json()) as SessionGrant;
      this.begin(grant);
      return true;
    });
  }

  private withLock<T>(callback: () => Promise<T>): Promise<T> {
    return this.deps.locks ? this.deps.locks.request(REFRESH_LOCK, callback) : callback();
  }

  private schedule(): void {
    this.scheduleIn(refreshDelay(this.expiresAt - this.deps.now()));
  }

  private scheduleIn(ms: number): void {
    this.cancelTimer();
    this.timer = this.deps.setTimer(() => {
      this.timer = null;
      void this.refresh().then((ok) => {
        if (!ok && this.accessToken === null) this.end();
      });
    }, ms);
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.deps.clearTimer(this.timer);
    this.timer = null;
  }

  /** The session ended without a log-out (expired, ended elsewhere, refresh token reused). */
  private end(): void {
    const hadSession = this.state.status === "authenticated";
    this.clear();
    this.setState({ status: "anonymous" });
    if (hadSession) this.deps.onExpired?.();
  }

  private clear(): void {
    this.deps.hint?.set(false);
    this.cancelTimer();
    this.accessToken = null;
    this.expiresAt = 0;
  }

  private setState(state: SessionState): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }
}
