import type { ReactNode } from "react";
import { Link, useLocation } from "react-router";

import { useAuth } from "../auth";

/** A page that needs an account: a sign-in link instead while signed out. */
export function SignedIn({ children, what }: { children: ReactNode; what: string }) {
  const { user, ready } = useAuth();
  const location = useLocation();
  if (!ready) return <p role="status">Loading…</p>;
  if (!user) {
    const back = encodeURIComponent(location.pathname + location.search);
    return (
      <p>
        <Link to={`/signin?next=${back}`}>Sign in</Link> or <Link to={`/signup?next=${back}`}>sign up</Link> to {what}.
      </p>
    );
  }
  return <>{children}</>;
}

