import { Link, NavLink, Outlet } from "react-router";

import { useSessionState } from "./features/auth/useSession";
import { LogoutButton } from "./features/auth/LogoutButton";

/** The frame of every signed-in page. */
export function AppShell() {
  const state = useSessionState();
  const user = state.status === "authenticated" ? state.user : null;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar__inner">
          <Link className="topbar__brand" to="/projects">
            <span className="brand-mark" aria-hidden="true" />
            TrayLinx Keys
          </Link>
          <nav className="topbar__nav" aria-label="Main">
            <NavLink className="topbar__link" to="/projects" end>
              Projects
            </NavLink>
          </nav>
          <div className="topbar__user">
            {user && (
              <span className="topbar__who" title={user.email}>
                {user.name}
              </span>
            )}
            <LogoutButton />
          </div>
        </div>
      </header>
      <main className="page" id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}
