import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";

import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import { Notice } from "../../components/Notice";
import { session, sessionNotices } from "../../graphql/client";
import { fieldErrors, hasErrors, type FieldErrors } from "../../graphql/userErrors";
import { useSessionState } from "./useSession";
import { AuthCard } from "./AuthCard";
import { useLogIn } from "./useLogIn";
import { requireFilled, safeNext } from "./validation";

type Field = "email" | "password";

export function LoginPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const navigate = useNavigate();
  const state = useSessionState();
  const logIn = useLogIn();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [checks, setChecks] = useState<FieldErrors<Field> | null>(null);
  // Read once: the notice belongs to this visit of the page.
  const [expired] = useState(() => {
    const value = sessionNotices.expired;
    sessionNotices.expired = false;
    return value;
  });

  if (state.status === "authenticated" && !logIn.fetching) return <Navigate to={next} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    const local = fieldErrors(requireFilled({ email, password }, { email: "Email", password: "Password" }));
    setChecks(local);
    if (hasErrors(local)) return;
    const outcome = await logIn.run({ input: { email, password, refreshTokenInCookie: true } });
    if (!outcome.ok) return;
    const { accessToken, accessTokenExpiresAt, user } = outcome.payload;
    if (accessToken && accessTokenExpiresAt && user) {
      session.begin({ accessToken, accessTokenExpiresAt, user });
      navigate(next, { replace: true });
    }
  }

  const errors = checks && hasErrors(checks) ? checks : logIn.outcome?.ok === false ? logIn.outcome.errors : null;
  const failure = logIn.outcome?.ok === false ? logIn.outcome.failure : null;

  return (
    <AuthCard
      title="Log in"
      footer={
        <>
          New here? <Link to={`/signup${params.size ? `?${params.toString()}` : ""}`}>Create an account</Link>
        </>
      }
    >
      {expired && <Notice>Your session has ended. Log in again to continue where you were.</Notice>}
      {failure && <ErrorBanner failure={failure} />}
      <form className="form" onSubmit={(event) => void submit(event)} noValidate>
        <FormErrors messages={errors?.form ?? []} />
        <FormField label="Email" error={errors?.fields.email}>
          {(props) => (
            <input {...props} className="input" type="email" autoComplete="username" value={email}
              onChange={(event) => setEmail(event.target.value)} required />
          )}
        </FormField>
        <FormField label="Password" error={errors?.fields.password}>
          {(props) => (
            <input {...props} className="input" type="password" autoComplete="current-password" value={password}
              onChange={(event) => setPassword(event.target.value)} required />
          )}
        </FormField>
        <button type="submit" className="button button--primary button--block" disabled={logIn.fetching}>
          Log in
        </button>
      </form>
    </AuthCard>
  );
}
