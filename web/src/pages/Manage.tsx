/** Manage: discover shows on Apple Podcasts, add a feed by URL, OPML in and out, subscriptions. */
import { type FormEvent, useRef, useState } from "react";
import { Link } from "react-router";

import { api, call, download, type Schemas } from "../api/client";
import { SignedIn } from "../components/SignedIn";
import { ErrorMessage, Status, useAction, useLoad } from "../components/ui";

type Added = Schemas["AddPodcastOut"];

function addedText(out: Added): string {
  const n = out.episodes_added;
  return `Subscribed to “${out.podcast.title}”${n ? ` (${n} episodes added; they are processed in the background)` : ""}.`;
}

function Discover({ onAdded }: { onAdded(out: Added): void }) {
  const [term, setTerm] = useState("");
  const [results, setResults] = useState<Schemas["AppleResultOut"][] | null>(null);
  const { busy, error, run } = useAction();
  const search = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => setResults(await call(api.GET("/discover/apple", { params: { query: { term, limit: 20 } } }))));
  };
  const add = (appleId: number) => void run(async () => onAdded(await call(api.POST("/podcasts", { body: { apple_id: appleId } }))));
  return (
    <section aria-labelledby="discover-heading">
      <h2 id="discover-heading">Discover shows</h2>
      <form onSubmit={search} className="inline" role="search">
        <label>
          Search Apple Podcasts
          <input type="search" required maxLength={200} value={term} onChange={(e) => setTerm(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>Discover</button>
      </form>
      <ErrorMessage error={error} />
      {results ? (
        results.length ? (
          <ul aria-label="Apple results" className="plain">
            {results.map((r) => (
              <li key={r.apple_id} className="row">
                {r.artwork_url ? <img src={r.artwork_url} alt="" width={48} height={48} loading="lazy" /> : null}
                <span>
                  <strong>{r.title}</strong> {r.author ? <span className="muted">by {r.author}</span> : null}
                </span>
                {r.podcast_id ? <Link to={`/podcasts/${r.podcast_id}`}>In the catalog</Link> : null}
                <button type="button" onClick={() => add(r.apple_id)} disabled={busy || !r.feed_url} aria-label={`Add ${r.title}`}>
                  Add
                </button>
              </li>
            ))}
          </ul>
        ) : (
          <Status>No shows found.</Status>
        )
      ) : null}
    </section>
  );
}

function AddFeed({ onAdded }: { onAdded(out: Added): void }) {
  const [url, setUrl] = useState("");
  const [isPrivate, setPrivate] = useState(false);
  const { busy, error, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      onAdded(await call(api.POST("/podcasts", { body: { feed_url: url, private: isPrivate } })));
      setUrl("");
    });
  };
  return (
    <section aria-labelledby="feed-heading">
      <h2 id="feed-heading">Add by feed URL</h2>
      <form onSubmit={submit} className="inline">
        <label>
          Feed URL
          <input type="url" required maxLength={2048} value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://example.com/feed.xml" />
        </label>
        <label className="check">
          <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} />
          Private feed
        </label>
        <button type="submit" disabled={busy}>Add feed</button>
      </form>
      {busy ? <Status>Fetching the feed…</Status> : null}
      <ErrorMessage error={error} />
    </section>
  );
}

function Opml({ onImported }: { onImported(): void }) {
  const file = useRef<HTMLInputElement>(null);
  const [report, setReport] = useState<Schemas["OpmlImportOut"] | null>(null);
  const { busy, error, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const chosen = file.current?.files?.[0];
    if (!chosen) return;
    void run(async () => {
      const text = await chosen.text();
      setReport(
        await call(
          api.POST("/opml/import", {
            body: text,
            bodySerializer: (b: string) => b,
            headers: { "Content-Type": "text/x-opml" },
          }),
        ),
      );
      onImported();
    });
  };
  return (
    <section aria-labelledby="opml-heading">
      <h2 id="opml-heading">OPML</h2>
      <form onSubmit={submit} className="inline">
        <label>
          OPML file
          <input ref={file} type="file" accept=".opml,.xml,text/x-opml,application/xml,text/xml" required />
        </label>
        <button type="submit" disabled={busy}>Import OPML</button>
        <button type="button" onClick={() => void run(() => download("/opml/export", "tellmemore.opml"))}>
          Export OPML
        </button>
      </form>
      {busy ? <Status>Importing: each new feed is fetched…</Status> : null}
      <ErrorMessage error={error} />
      {report ? (
        <>
          <Status>
            Imported: {report.created} new, {report.exists} already there, {report.failed} failed
          </Status>
          {report.items.some((i) => i.error) ? (
            <ul aria-label="Import problems">
              {report.items
                .filter((i) => i.error)
                .map((i, n) => (
                  <li key={n}>
                    {i.title ?? i.feed_url ?? "An entry"}: {i.error?.message}
                  </li>
                ))}
            </ul>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

function Subscriptions({ token }: { token: number }) {
  const subs = useLoad(() => call(api.GET("/me/subscriptions")), [token]);
  const { busy, error, run } = useAction();
  const unsubscribe = (id: string) =>
    void run(async () => {
      await call(api.DELETE("/me/subscriptions/{podcast_id}", { params: { path: { podcast_id: id } } }));
      subs.reload();
    });
  return (
    <section aria-labelledby="subs-heading">
      <h2 id="subs-heading">Subscriptions</h2>
      <ErrorMessage error={subs.error ?? error} />
      {subs.data ? (
        subs.data.length ? (
          <ul aria-label="Subscriptions" className="plain">
            {subs.data.map((s) => (
              <li key={s.podcast_id} className="row">
                <Link to={`/podcasts/${s.podcast_id}`}>{s.title}</Link>
                <button type="button" onClick={() => unsubscribe(s.podcast_id)} disabled={busy} aria-label={`Unsubscribe ${s.title}`}>
                  Unsubscribe
                </button>
              </li>
            ))}
          </ul>
        ) : (
          <p>No subscriptions yet: discover a show, add a feed or import an OPML file.</p>
        )
      ) : (
        <Status>Loading…</Status>
      )}
    </section>
  );
}

function ManageSignedIn() {
  const [token, setToken] = useState(0);
  const [added, setAdded] = useState<Added | null>(null);
  const onAdded = (out: Added) => {
    setAdded(out);
    setToken((n) => n + 1);
  };
  return (
    <>
      {added ? (
        <Status>
          {addedText(added)} <Link to={`/podcasts/${added.podcast.id}`}>See its episodes</Link>
        </Status>
      ) : null}
      <Discover onAdded={onAdded} />
      <AddFeed onAdded={onAdded} />
      <Opml onImported={() => setToken((n) => n + 1)} />
      <Subscriptions token={token} />
    </>
  );
}

export default function Manage() {
  return (
    <>
      <h1>Manage</h1>
      <SignedIn what="manage your shows">
        <ManageSignedIn />
      </SignedIn>
    </>
  );
}
