import { useSyncExternalStore } from "react";

import { session } from "../../graphql/client";
import type { SessionState } from "../../graphql/session";

export function useSessionState(): SessionState {
  return useSyncExternalStore(session.subscribe, () => session.getState());
}
