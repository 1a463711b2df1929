import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";

import { ErrorBanner, FormErrors } from "../../components/ErrorBanner";
import { FormField } from "../../components/FormField";
import { session } from "../../graphql/client";
import { fieldErrors, hasErrors, type FieldErrors } from "../../graphql/userErrors";
import { AuthCard } from "./AuthCard";
import { useSessionState } from "./useSession";
import { useSignUp } from "./useSignUp";
import { requireFilled, safeNext } from "./validation";

type Field = "name" | "email" | "password";

export function SignupPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const navigate = useNavigate();
  const state = useSessionState();
  const signUp = useSignUp();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [checks, setChecks] = useState<FieldErrors<Field> | null>(null);

  if (state.status === "authenticated" && !signUp.fetching) return <Navigate to={next} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    const local = fieldErrors(
      requireFilled({ name, email, password }, { name: "Name", email: "Email", password: "Password" }),
    );
    setChecks(local);
    if (hasErrors(local)) return;
    const outcome = await signUp.run({ input: { name, email, password, refreshTokenInCookie: true } });
    if (!outcome.ok) return;
    const { accessToken, accessTokenExpiresAt, user } = outcome.payload;
    if (accessToken && accessTokenExpiresAt && user) {
      session.begin({ accessToken, accessTokenExpiresAt, user });
      navigate(next, { replace: true });
    }
  }

  const errors = checks && hasErrors(checks) ? checks : signUp.outcome?.ok === false ? signUp.outcome.errors : null;
  const failure = signUp.outcome?.ok === false ? signUp.outcome.failure : null;

  return (
    <AuthCard
      title="Create your account"
      footer={
        <>
          Already have an account? <Link to={`/login${params.size ? `?${params.toString()}` : ""}`}>Log in</Link>
        </>
      }
    >
      {failure && <ErrorBanner failure={failure} />}
      <form className="form" onSubmit={(event) => void submit(event)} noValidate>
        <FormErrors messages={errors?.form ?? []} />
        <FormField label="Name" error={errors?.fields.name}>
          {(props) => (
            <input {...props} className="input" autoComplete="name" value={name}
              onChange={(event) => setName(event.target.value)} required />
          )}
        </FormField>
        <FormField label="Email" error={errors?.fields.email}>
          {(props) => (
            <input {...props} className="input" type="email" autoComplete="email" value={email}
              onChange={(event) => setEmail(event.target.value)} required />
          )}
        </FormField>
        <FormField label="Password" error={errors?.fields.password} hint="A long passphrase works well.">
          {(props) => (
            <input {...props} className="input" type="password" autoComplete="new-password" value={password}
              onChange={(event) => setPassword(event.target.value)} required />
          )}
        </FormField>
        <button type="submit" className="button button--primary button--block" disabled={signUp.fetching}>
          Sign up
        </button>
      </form>
    </AuthCard>
  );
}
