/** Ask: a topic in, a playlist of the exact minutes across shows out; save and rename it. */
import { type FormEvent, useState } from "react";
import { Link } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { Marked } from "../components/Marked";
import { SignedIn } from "../components/SignedIn";
import { ErrorMessage, Status, useAction } from "../components/ui";
import { clock } from "../format";
import { fromTellMeMore, playable } from "../player/items";
import { usePlayer } from "../player/PlayerContext";

type Result = Schemas["TellMeMoreOut"];

function Rename({ playlistId, initial }: { playlistId: string; initial: string }) {
  const [title, setTitle] = useState(initial);
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    void run(async () => {
      await call(api.PATCH("/playlists/{playlist_id}", { params: { path: { playlist_id: playlistId } }, body: { title } }));
      setDone(true);
    });
  };
  return (
    <form onSubmit={submit} className="inline">
      <label>
        Playlist title
        <input type="text" required maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
      </label>
      <button type="submit" disabled={busy}>Rename</button>
      <ErrorMessage error={error} />
      {done ? <Status>Renamed to “{title}”.</Status> : null}
    </form>
  );
}

function Results({ result }: { result: Result }) {
  const player = usePlayer();
  const items = result.items;
  const queue = playable(items.map(fromTellMeMore));
  const playFrom = (index: number) => {
    const it = fromTellMeMore(items[index]!);
    const at = it ? queue.findIndex((q) => q.key === it.key) : -1;
    player.playQueue(queue, { startAt: Math.max(0, at), skipHeard: false });
  };
  return (
    <section aria-labelledby="result-heading">
      <h2 id="result-heading">“{result.topic}”</h2>
      <Status>
        {items.length} passages, {result.total_minutes.toFixed(1)} of {result.target_minutes} minutes
        {result.shortfall ? " (the catalog has fewer relevant minutes so far; a saved playlist grows as episodes are processed)" : ""}.
      </Status>
      {result.playlist_id ? (
        <div className="row">
          <Link to={`/playlists/${result.playlist_id}`}>Open saved playlist</Link>
          <Rename playlistId={result.playlist_id} initial={result.topic.slice(0, 200)} />
        </div>
      ) : null}
      {queue.length ? (
        <p>
          <button type="button" className="primary" onClick={() => player.playQueue(queue, { skipHeard: true })}>
            Play all
          </button>
        </p>
      ) : null}
      <ol aria-label="Playlist" className="cards">
        {items.map((item, i) => (
          <li key={`${item.episode_id}-${item.start_s}`} className="card">
            <h3>{item.episode_title}</h3>
            <p className="muted">
              {item.podcast_title} · {clock(item.start_s)}–{clock(item.end_s)} · length {clock(item.end_s - item.start_s)}
            </p>
            <blockquote>
              <Marked text={item.reason.snippet} marks={item.reason.marks} />
            </blockquote>
            <p className="row">
              <button type="button" onClick={() => playFrom(i)} disabled={!item.audio_url}>
                Play item {i + 1}
              </button>
              <Link to={`/episodes/${item.episode_id}?t=${Math.floor(item.start_s)}`}>Read along</Link>
            </p>
          </li>
        ))}
      </ol>
    </section>
  );
}

function AskForm() {
  const [topic, setTopic] = useState("");
  const [minutes, setMinutes] = useState(15);
  const [save, setSave] = useState(true);
  const [result, setResult] = useState<Result | null>(null);
  const { busy, error, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      setResult(null);
      setResult(await call(api.POST("/tell-me-more", { body: { topic, minutes, save } })));
    });
  };
  return (
    <>
      <form onSubmit={submit} className="stack">
        <label>
          Topic
          <input type="text" required maxLength={10000} value={topic} onChange={(e) => setTopic(e.target.value)} placeholder="e.g. how sourdough starters work" />
        </label>
        <div className="row">
          <label>
            Minutes
            <input type="number" min={1} max={600} required value={minutes} onChange={(e) => setMinutes(Number(e.target.value))} />
          </label>
          <label className="check">
            <input type="checkbox" checked={save} onChange={(e) => setSave(e.target.checked)} />
            Save as a playlist
          </label>
        </div>
        <ErrorMessage error={error} />
        <button type="submit" className="primary" disabled={busy}>
          Tell me more
        </button>
        {busy ? <Status>Finding the minutes…</Status> : null}
      </form>
      {result ? <Results result={result} /> : null}
    </>
  );
}

export default function Ask() {
  return (
    <>
      <h1>Tell me more about…</h1>
      <p>Name a topic; get a playlist of the exact minutes where shows discuss it.</p>
      <SignedIn what="build a playlist">
        <AskForm />
      </SignedIn>
    </>
  );
}
