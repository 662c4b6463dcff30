/** Account: profile, notifications, sessions (log out everywhere), export and delete my data. */
import { type FormEvent, useState } from "react";
import { useNavigate } from "react-router";

import { api, call, download, type Schemas } from "../api/client";
import { useAuth } from "../auth";
import { SignedIn } from "../components/SignedIn";
import { ErrorMessage, Status, useAction, useLoad } from "../components/ui";
import { date } from "../format";

function Profile({ user }: { user: Schemas["UserOut"] }) {
  const auth = useAuth();
  const [name, setName] = useState(user.display_name ?? "");
  const [saved, setSaved] = useState(false);
  const { busy, error, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    void run(async () => {
      auth.setUser(await call(api.PATCH("/me", { body: { display_name: name.trim() || null } })));
      setSaved(true);
    });
  };
  return (
    <section aria-labelledby="profile-heading">
      <h2 id="profile-heading">Profile</h2>
      <p>
        Signed in as <strong>{user.email}</strong>
        {user.email_verified_at ? " (verified)" : " (not verified yet: follow the link we mailed you)"}.
      </p>
      <form onSubmit={submit} className="inline">
        <label>
          Display name
          <input type="text" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>Save profile</button>
      </form>
      <ErrorMessage error={error} />
      {saved ? <Status>Profile saved.</Status> : null}
    </section>
  );
}

function Notifications() {
  const loaded = useLoad(() => call(api.GET("/me/notifications")), []);
  const { error, run } = useAction();
  const toggle = (on: boolean) =>
    void run(async () => loaded.setData(await call(api.PUT("/me/notifications", { body: { email_digest: on } }))));
  return (
    <section aria-labelledby="notifications-heading">
      <h2 id="notifications-heading">Notifications</h2>
      <label className="check">
        <input type="checkbox" disabled={!loaded.data} checked={loaded.data?.email_digest ?? false} onChange={(e) => toggle(e.target.checked)} />
        Email me what my topic playlists gained
      </label>
      <ErrorMessage error={loaded.error ?? error} />
    </section>
  );
}

function Sessions() {
  const auth = useAuth();
  const navigate = useNavigate();
  const sessions = useLoad(() => call(api.GET("/me/sessions")), []);
  const { busy, error, run } = useAction();
  const active = sessions.data?.filter((s) => !s.revoked_at) ?? [];
  const end = (id: string) =>
    call(api.DELETE("/me/sessions/{session_id}", { params: { path: { session_id: id } } }));
  const everywhere = () =>
    void run(async () => {
      // The others first, then this one: ending this one first would leave no token to end the rest.
      for (const s of active.filter((s) => !s.current)) await end(s.id);
      await auth.signOut();
      navigate("/signin");
    });
  return (
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Sessions</h2>
      <ErrorMessage error={sessions.error ?? error} />
      <ul aria-label="Sessions" className="plain">
        {active.map((s, i) => (
          <li key={s.id} className="row">
            <span>
              {s.user_agent ?? "Unknown device"} <span className="muted">· last used {date(s.last_used_at)}</span>
              {s.current ? <strong> · this device</strong> : null}
            </span>
            {!s.current ? (
              <button
                type="button"
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    await end(s.id);
                    sessions.reload();
                  })
                }
              >
                End session {i + 1}
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      <p className="row">
        <button type="button" onClick={everywhere} disabled={busy}>Log out everywhere</button>
        <button type="button" onClick={() => void run(async () => { await auth.signOut(); navigate("/"); })} disabled={busy}>
          Log out
        </button>
      </p>
    </section>
  );
}

function MyData() {
  const auth = useAuth();
  const navigate = useNavigate();
  const [password, setPassword] = useState("");
  const { busy, error, run } = useAction();
  const remove = (e: FormEvent) => {
    e.preventDefault();
    if (!window.confirm("Delete your account and everything stored about you? This cannot be undone.")) return;
    void run(async () => {
      await call(api.DELETE("/me", { body: { password } }));
      auth.forget();
      navigate("/");
    });
  };
  return (
    <section aria-labelledby="data-heading">
      <h2 id="data-heading">Your data</h2>
      <p>
        <button type="button" disabled={busy} onClick={() => void run(() => download("/me/export", "tellmemore-export.json"))}>
          Export my data
        </button>
      </p>
      <form onSubmit={remove} className="inline">
        <label>
          Password to confirm
          <input type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <button type="submit" className="danger" disabled={busy}>Delete my account</button>
      </form>
      <ErrorMessage error={error} />
    </section>
  );
}

export default function Account() {
  const { user } = useAuth();
  return (
    <>
      <h1>Account</h1>
      <SignedIn what="see your account">
        {user ? (
          <>
            <Profile user={user} />
            <Notifications />
            <Sessions />
            <MyData />
          </>
        ) : null}
      </SignedIn>
    </>
  );
}
