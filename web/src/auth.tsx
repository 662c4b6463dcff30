/** Who is signed in, for every page: restored on load from the refresh cookie. */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from "react";

import { api, call, mayHaveSession, onAuthChange, refresh, type Schemas, setTokens } from "./api/client";

type User = Schemas["UserOut"];

interface Auth {
  /** null while the first refresh is in flight. */
  ready: boolean;
  user: User | null;
  signIn(email: string, password: string): Promise<void>;
  signUp(email: string, password: string, displayName: string | null): Promise<void>;
  signOut(): Promise<void>;
  /** Forget the session locally (after "log out everywhere" or deleting the account). */
  forget(): void;
  setUser(user: User): void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [ready, setReady] = useState(false);
  const [user, setUser] = useState<User | null>(null);

  const loadUser = useCallback(async () => {
    setUser(await call(api.GET("/me")));
  }, []);

  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        if (mayHaveSession() && (await refresh())) await loadUser();
      } catch {
        setTokens(null);
      } finally {
        if (live) setReady(true);
      }
    })();
    const off = onAuthChange((signedIn) => {
      if (!signedIn) setUser(null);
    });
    return () => {
      live = false;
      off();
    };
  }, [loadUser]);

  const value = useMemo<Auth>(
    () => ({
      ready,
      user,
      async signIn(email, password) {
        setTokens(await call(api.POST("/auth/login", { body: { email, password, refresh_cookie: true } })));
        await loadUser();
      },
      async signUp(email, password, displayName) {
        const out = await call(
          api.POST("/auth/register", {
            body: { email, password, display_name: displayName || null, refresh_cookie: true },
          }),
        );
        setTokens(out.tokens);
        setUser(out.user);
      },
      async signOut() {
        try {
          await call(api.POST("/auth/logout"));
        } finally {
          setTokens(null);
        }
      },
      forget() {
        setTokens(null);
      },
      setUser,
    }),
    [ready, user, loadUser],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}
