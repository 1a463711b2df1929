import { Client, cacheExchange, fetchExchange } from "urql";

import { Session, type LockManagerLike, type SessionHint } from "./session";

/** Browsers without the Web Locks API (old ones) still work, unserialised, in a single tab. */
function webLocks(): LockManagerLike | undefined {
  if (typeof navigator === "undefined" || !("locks" in navigator)) return undefined;
  return {
    // The DOM typings wrap the callback's promise in another; at run time it resolves to T.
    request: <T,>(name: string, callback: () => Promise<T>) =>
      navigator.locks.request(name, callback) as Promise<T>,
  };
}

function logoutChannel(): BroadcastChannel | undefined {
  return typeof BroadcastChannel === "undefined"
    ? undefined
    : new BroadcastChannel("traylinx-console-session");
}

/**
 * A flag (never a token) in localStorage: "this browser logged in and did not log out". The
 * console sets it whenever it gets the refresh cookie, and clearing site data clears both.
 */
const HINT_KEY = "traylinx-console-signed-in";
const sessionHint: SessionHint = {
  get() {
    try {
      return window.localStorage.getItem(HINT_KEY) === "1";
    } catch {
      return true; // storage disabled: ask the service every time
    }
  },
  set(value) {
    try {
      window.localStorage.setItem(HINT_KEY, value ? "1" : "0");
    } catch {
      // storage disabled: restore() asks the service every time
    }
  },
};

/** Set by the app shell to tell the person why they are on the login page. */
export const sessionNotices = {
  expired: false,
};

export const session = new Session({
  fetch: (input, init) => window.fetch(input, init),
  locks: webLocks(),
  channel: logoutChannel(),
  hint: sessionHint,
  onExpired: () => {
    sessionNotices.expired = true;
  },
});

/**
 * A GraphQL client with an empty cache. The app makes a new one for each signed-in person, so
 * nothing one person read is ever shown to the next one on the same tab.
 */
export function makeClient(): Client {
  return new Client({
    url: "/graphql",
    exchanges: [cacheExchange, fetchExchange],
    fetch: session.fetch,
    // The service refuses queries over GET (variables would land in URLs and logs).
    preferGetMethod: false,
    // Lists refetch in the background when a page opens again.
    requestPolicy: "cache-and-network",
  });
}
