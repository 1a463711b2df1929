import { useEffect } from "react";
import { Navigate, Outlet, useLocation } from "react-router";

import { Loading } from "../../components/Notice";
import { session } from "../../graphql/client";
import { useSessionState } from "./useSession";
import { loginPathFor } from "./validation";

/**
 * Pages behind a session. On a fresh load (a deep link, a reload) the access token is not in
 * memory yet: ask the refresh cookie for one first. Whenever the session ends, go to the login
 * page and keep the URL the person was on.
 */
export function RequireSession() {
  const state = useSessionState();
  const location = useLocation();

  useEffect(() => {
    if (state.status === "unknown") void session.restore();
  }, [state.status]);

  if (state.status === "unknown") return <Loading label="Opening your session…" />;
  if (state.status === "anonymous") return <Navigate to={loginPathFor(location)} replace />;
  return <Outlet />;
}

/** The login and sign-up pages: pick up an existing session so a logged-in person skips them. */
export function PublicOnly() {
  const state = useSessionState();
  useEffect(() => {
    if (state.status === "unknown") void session.restore();
  }, [state.status]);
  if (state.status === "unknown") return <Loading label="Opening your session…" />;
  return <Outlet />;
}
