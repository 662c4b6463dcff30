/** Sign in and sign up: one form, two modes. */
import { type FormEvent, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";

import { useAuth } from "../auth";
import { ErrorMessage, useAction } from "../components/ui";

/** Only a path of this app: never another origin (an open redirect). */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

export default function SignIn({ mode }: { mode: "signin" | "signup" }) {
  const auth = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const { busy, error, run } = useAction();
  const signup = mode === "signup";
  const next = safeNext(params.get("next"));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      if (signup) await auth.signUp(email, password, displayName.trim() || null);
      else await auth.signIn(email, password);
      navigate(next);
    });
  };

  return (
    <>
      <h1>{signup ? "Sign up" : "Sign in"}</h1>
      {auth.user ? <p>You are signed in as {auth.user.email}.</p> : null}
      <form onSubmit={submit} className="stack narrow">
        <label>
          Email
          <input type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete={signup ? "new-password" : "current-password"}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {signup ? (
          <label>
            Display name (optional)
            <input type="text" name="display_name" autoComplete="nickname" maxLength={100} value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
          </label>
        ) : null}
        <ErrorMessage error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {signup ? "Sign up" : "Sign in"}
        </button>
      </form>
      <p>
        {signup ? (
          <>Already have an account? <Link to={`/signin?next=${encodeURIComponent(next)}`}>Sign in instead</Link>.</>
        ) : (
          <>New here? <Link to={`/signup?next=${encodeURIComponent(next)}`}>Create an account</Link>.</>
        )}
      </p>
    </>
  );
}
