import { useState } from "react";

import { session } from "../../graphql/client";

export function LogoutButton() {
  const [busy, setBusy] = useState(false);
  async function logOut() {
    setBusy(true);
    await session.logout();
    // A full load of the login page: nothing read during the session stays in memory.
    window.location.assign("/admin/login");
  }
  return (
    <button type="button" className="button button--ghost button--small" disabled={busy} onClick={() => void logOut()}>
      Log out
    </button>
  );
}
