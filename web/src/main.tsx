import { StrictMode, useMemo } from "react";
import { createRoot } from "react-dom/client";
import { RouterProvider } from "react-router";
import { Provider } from "urql";

import "./styles/base.css";
import "./styles/components.css";
import "./styles/pages.css";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { useSessionState } from "./features/auth/useSession";
import { makeClient } from "./graphql/client";
import { createRouter } from "./router";

const router = createRouter();

function App() {
  const state = useSessionState();
  const userId = state.status === "authenticated" ? state.user.id : null;
  // A fresh client (and cache) for each signed-in person.
  const client = useMemo(() => makeClient(), [userId]);
  return (
    <Provider value={client}>
      <RouterProvider router={router} />
    </Provider>
  );
}

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");

createRoot(root).render(
  <StrictMode>
    <ErrorBoundary>
      <App />
    </ErrorBoundary>
  </StrictMode>,
);
