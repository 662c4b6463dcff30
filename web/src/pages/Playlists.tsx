/** My playlists: the list, and a new one. */
import { type FormEvent, useState } from "react";
import { Link, useNavigate } from "react-router";

import { api, call } from "../api/client";
import { SignedIn } from "../components/SignedIn";
import { ErrorMessage, Status, useAction, useLoad } from "../components/ui";
import { date } from "../format";

function Mine() {
  const navigate = useNavigate();
  const list = useLoad(() => call(api.GET("/me/playlists", { params: { query: { limit: 100 } } })), []);
  const [title, setTitle] = useState("");
  const { busy, error, run } = useAction();
  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const made = await call(api.POST("/playlists", { body: { title } }));
      navigate(`/playlists/${made.id}`);
    });
  };
  return (
    <>
      <form onSubmit={create} className="inline">
        <label>
          New playlist title
          <input type="text" required maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>Create playlist</button>
        <ErrorMessage error={error} />
      </form>
      <ErrorMessage error={list.error} />
      {list.loading && !list.data ? <Status>Loading…</Status> : null}
      {list.data ? (
        list.data.items.length ? (
          <ul aria-label="My playlists" className="plain">
            {list.data.items.map((p) => (
              <li key={p.id}>
                <Link to={`/playlists/${p.id}`}>{p.title}</Link>{" "}
                <span className="muted">
                  {p.kind === "topic" ? "topic · " : ""}
                  {p.item_count} items · {p.visibility} · updated {date(p.updated_at)}
                </span>
              </li>
            ))}
          </ul>
        ) : (
          <p>No playlists yet. <Link to="/">Ask for a topic</Link> to build one.</p>
        )
      ) : null}
    </>
  );
}

export default function Playlists() {
  return (
    <>
      <h1>Playlists</h1>
      <SignedIn what="see your playlists">
        <Mine />
      </SignedIn>
    </>
  );
}
