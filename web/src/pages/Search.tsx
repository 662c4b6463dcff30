/** Search: the passages where something is said, highlighted, filtered, and "more like this". */
import { type FormEvent, useId, useState } from "react";
import { Link, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { useAuth } from "../auth";
import { Marked } from "../components/Marked";
import { ErrorMessage, Status, useAction, useLoad } from "../components/ui";
import { clock, date } from "../format";
import { fromHit, playable } from "../player/items";
import { usePlayer } from "../player/PlayerContext";

type Hit = Schemas["SegmentHitOut"];

function HitList({ hits, onMore, onAdd }: { hits: Hit[]; onMore(hit: Hit): void; onAdd: ((hit: Hit) => void) | null }) {
  const player = usePlayer();
  const play = (hit: Hit) => {
    const item = fromHit(hit);
    if (item) player.playQueue([item], { skipHeard: false });
  };
  if (!hits.length) return <Status>Nothing found. Try other words or fewer filters.</Status>;
  return (
    <ol aria-label="Results" className="cards">
      {hits.map((hit, i) => (
        <li key={hit.segment_id} className="card">
          <h3>{hit.episode_title}</h3>
          <p className="muted">
            {hit.podcast_title}
            {hit.published_at ? ` · ${date(hit.published_at)}` : ""} · {clock(hit.start_s)}–{clock(hit.end_s)}
          </p>
          <blockquote>
            {hit.highlight ? <Marked text={hit.highlight.snippet} marks={hit.highlight.marks} /> : hit.text.slice(0, 400)}
          </blockquote>
          <p className="row">
            <button type="button" onClick={() => play(hit)} disabled={!hit.audio_url}>
              Play passage {i + 1}
            </button>
            <button type="button" onClick={() => onMore(hit)}>
              More like this {i + 1}
            </button>
            {onAdd ? (
              <button type="button" onClick={() => onAdd(hit)}>
                Add passage {i + 1}
              </button>
            ) : null}
            <Link to={`/episodes/${hit.episode_id}?t=${Math.floor(hit.deep_link_s)}`}>Open episode {i + 1}</Link>
          </p>
        </li>
      ))}
    </ol>
  );
}

/** A date input's day as the start of that day in UTC (the API needs a time zone). */
function day(value: string): string | undefined {
  return value ? `${value}T00:00:00Z` : undefined;
}

export default function Search() {
  const [params, setParams] = useSearchParams();
  const [q, setQ] = useState(params.get("q") ?? "");
  const [podcast, setPodcast] = useState(params.get("podcast") ?? "");
  const [from, setFrom] = useState(params.get("from") ?? "");
  const [until, setUntil] = useState(params.get("until") ?? "");
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [similarTo, setSimilarTo] = useState<Hit | null>(null);
  const { busy, error, run } = useAction();
  const player = usePlayer();
  const podcastId = useId();
  const podcasts = useLoad(() => call(api.GET("/podcasts", { params: { query: { limit: 100 } } })), []);
  const { user } = useAuth();
  const targetId = useId();
  const [target, setTarget] = useState("");
  const [added, setAdded] = useState<string | null>(null);
  const mine = useLoad(
    user ? () => call(api.GET("/me/playlists", { params: { query: { limit: 100, kind: "manual" } } })) : null,
    [user?.id],
  );
  const add = (hit: Hit) =>
    void run(async () => {
      setAdded(null);
      await call(
        api.POST("/playlists/{playlist_id}/items", {
          params: { path: { playlist_id: target } },
          body: { episode_id: hit.episode_id, start_s: hit.start_s, end_s: hit.end_s },
        }),
      );
      const title = mine.data?.items.find((p) => p.id === target)?.title ?? "the playlist";
      setAdded(`Added “${hit.episode_title}” (${clock(hit.start_s)}–${clock(hit.end_s)}) to ${title}.`);
    });

  const filters = () => ({
    podcast_id: podcast ? [podcast] : undefined,
    published_after: day(from),
    published_before: day(until),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setParams({ q, ...(podcast && { podcast }), ...(from && { from }), ...(until && { until }) }, { replace: true });
    void run(async () => {
      setSimilarTo(null);
      const found = await call(api.GET("/search", { params: { query: { q, ...filters() } } }));
      setHits(found.results);
    });
  };

  const more = (hit: Hit) =>
    void run(async () => {
      const found = await call(
        api.GET("/segments/{segment_id}/similar", { params: { path: { segment_id: hit.segment_id }, query: filters() } }),
      );
      setSimilarTo(hit);
      setHits(found.results);
    });

  const queue = hits ? playable(hits.map(fromHit)) : [];
  return (
    <>
      <h1>Search</h1>
      <form onSubmit={submit} className="stack" role="search">
        <label>
          Search
          <input type="search" required maxLength={10000} value={q} onChange={(e) => setQ(e.target.value)} placeholder="a phrase, a name, an idea" />
        </label>
        <div className="row">
          <div className="field">
            <label htmlFor={podcastId}>Podcast</label>
            <select id={podcastId} value={podcast} onChange={(e) => setPodcast(e.target.value)}>
              <option value="">All podcasts</option>
              {podcasts.data?.items.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.title}
                </option>
              ))}
            </select>
          </div>
          <label>
            Published from
            <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label>
            Published until
            <input type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
          </label>
        </div>
        <ErrorMessage error={error ?? podcasts.error} />
        <button type="submit" className="primary" disabled={busy}>
          Search
        </button>
      </form>
      {busy ? <Status>Searching…</Status> : null}
      {similarTo ? (
        <>
          <h2>More like this</h2>
          <p className="muted">Passages like “{similarTo.text.slice(0, 120)}…” from {similarTo.episode_title}.</p>
        </>
      ) : null}
      {queue.length > 1 ? (
        <p>
          <button type="button" onClick={() => player.playQueue(queue, { skipHeard: true })}>
            Play all results
          </button>
        </p>
      ) : null}
      {hits && mine.data?.items.length ? (
        <div className="field">
          <label htmlFor={targetId}>Add passages to</label>
          <select id={targetId} value={target} onChange={(e) => setTarget(e.target.value)}>
            <option value="">Choose a playlist</option>
            {mine.data.items.map((p) => (
              <option key={p.id} value={p.id}>
                {p.title}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      {added ? <Status>{added}</Status> : null}
      {hits ? <HitList hits={hits} onMore={more} onAdd={target ? add : null} /> : null}
    </>
  );
}
