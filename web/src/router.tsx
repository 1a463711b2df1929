import { Navigate, createBrowserRouter, useRouteError, type RouteObject } from "react-router";

import { AppShell } from "./AppShell";
import { CrashMessage } from "./components/ErrorBoundary";
import { AlertsPage } from "./features/alerts/AlertsPage";
import { ApiKeyDetailPage } from "./features/api-keys/ApiKeyDetailPage";
import { ApiKeysPage } from "./features/api-keys/ApiKeysPage";
import { AuditLogPage } from "./features/audit/AuditLogPage";
import { LoginPage } from "./features/auth/LoginPage";
import { PublicOnly, RequireSession } from "./features/auth/RequireSession";
import { SignupPage } from "./features/auth/SignupPage";
import { LlmKeysPage } from "./features/llm-keys/LlmKeysPage";
import { MembersPage } from "./features/members/MembersPage";
import { ProjectLayout } from "./features/projects/ProjectLayout";
import { ProjectsPage } from "./features/projects/ProjectsPage";
import { UsagePage } from "./features/usage/UsagePage";

/** Routes mirror the URLs under /admin/; the service answers every one of them with index.html. */
export const routes: RouteObject[] = [
  {
    errorElement: <RouteError />,
    children: [
      {
        element: <PublicOnly />,
        children: [
          { path: "login", element: <LoginPage /> },
          { path: "signup", element: <SignupPage /> },
        ],
      },
      {
        element: <RequireSession />,
        children: [
          {
            element: <AppShell />,
            children: [
              { index: true, element: <Navigate to="/projects" replace /> },
              { path: "projects", element: <ProjectsPage /> },
              {
                path: "projects/:projectId",
                element: <ProjectLayout />,
                children: [
                  { index: true, element: <Navigate to="settings/api-keys" replace /> },
                  { path: "settings", element: <Navigate to="api-keys" replace /> },
                  { path: "usage", element: <UsagePage /> },
                  { path: "alerts", element: <AlertsPage /> },
                  { path: "audit", element: <AuditLogPage /> },
                  { path: "settings/api-keys", element: <ApiKeysPage /> },
                  { path: "settings/api-keys/:keyId", element: <ApiKeyDetailPage /> },
                  { path: "settings/llm-api-keys", element: <LlmKeysPage /> },
                  { path: "settings/members", element: <MembersPage /> },
                  {
                    path: "settings/webhooks",
                    // Few open it, and rarely: its code loads with the page, not with the console.
                    lazy: async () => ({ Component: (await import("./features/webhooks/WebhooksPage")).WebhooksPage }),
                  },
                ],
              },
              { path: "*", element: <NotFound /> },
            ],
          },
        ],
      },
    ],
  },
];

export function createRouter() {
  return createBrowserRouter(routes, { basename: "/admin" });
}

function NotFound() {
  return (
    <div className="empty">
      <h1 className="empty__title">Page not found</h1>
      <p>This address is not a page of the console.</p>
    </div>
  );
}

/** A render error inside a route: a message instead of React Router's developer page. */
function RouteError() {
  const error = useRouteError();
  return <CrashMessage error={error} />;
}
