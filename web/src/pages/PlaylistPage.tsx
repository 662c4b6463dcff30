/**
 * One playlist (mine, a public one, or one opened by its share link): play it, reorder it by
 * dragging or with the up/down buttons, notes, rename, visibility, share link, exports.
 * Every edit sends the version it was based on (If-Match); a 412 reloads the playlist.
 */
import { type DragEvent, type FormEvent, useId, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";

import { API_ORIGIN, ApiError, api, call, download, type Schemas } from "../api/client";
import { ErrorMessage, Status, useAction, useLoad } from "../components/ui";
import { clock, date } from "../format";
import { fromPlaylistItem, playable } from "../player/items";
import { usePlayer } from "../player/PlayerContext";
import { move } from "../player/queue";

type Playlist = Schemas["PlaylistOut"];
type Item = Schemas["ItemOut"];

function ifMatch(version: number) {
  return { "if-match": `"${version}"` };
}

function Note({ index, item, save }: { index: number; item: Item; save(note: string | null): void }) {
  const [note, setNote] = useState(item.note ?? "");
  return (
    <form
      className="inline"
      onSubmit={(e) => {
        e.preventDefault();
        save(note.trim() ? note : null);
      }}
    >
      <label>
        Note for item {index + 1}
        <input type="text" maxLength={2000} value={note} onChange={(e) => setNote(e.target.value)} />
      </label>
      <button type="submit">Save note {index + 1}</button>
    </form>
  );
}

function Settings({ playlist, edit }: { playlist: Playlist; edit(body: Schemas["PlaylistPatchIn"]): Promise<void> }) {
  const [title, setTitle] = useState(playlist.title);
  const visibilityId = useId();
  const rename = (e: FormEvent) => {
    e.preventDefault();
    void edit({ title });
  };
  return (
    <div className="stack">
      <form onSubmit={rename} className="inline">
        <label>
          Title
          <input type="text" required maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <button type="submit">Rename</button>
      </form>
      <div className="row">
        {/* Labelled by id, not by wrapping: a wrapping label's name would include every option. */}
        <div className="field">
          <label htmlFor={visibilityId}>Visibility</label>
          <select
            id={visibilityId}
            value={playlist.visibility}
            onChange={(e) => void edit({ visibility: e.target.value as Playlist["visibility"] })}
          >
            <option value="private">Private</option>
            <option value="unlisted">Unlisted (anyone with the link)</option>
            <option value="public">Public</option>
          </select>
        </div>
        <label className="check">
          <input type="checkbox" checked={playlist.skip_heard} onChange={(e) => void edit({ skip_heard: e.target.checked })} />
          Skip what I have heard
        </label>
      </div>
    </div>
  );
}

export default function PlaylistPage() {
  const { playlistId, shareToken } = useParams();
  const navigate = useNavigate();
  const player = usePlayer();
  const loaded = useLoad<Playlist>(
    () =>
      shareToken
        ? call(api.GET("/shared/playlists/{share_token}", { params: { path: { share_token: shareToken } } }))
        : call(api.GET("/playlists/{playlist_id}", { params: { path: { playlist_id: playlistId ?? "" } } })),
    [playlistId, shareToken],
  );
  const { busy, error, run } = useAction();
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const playlist = loaded.data;

  if (loaded.error && !playlist) return <ErrorMessage error={loaded.error} />;
  if (!playlist) return <Status>Loading the playlist…</Status>;
  const p = playlist;
  const id = p.id;
  const mine = p.mine;

  /** Runs an edit; a 412 (someone changed it meanwhile) reloads and says so. */
  const edited = (action: () => Promise<void>) =>
    run(async () => {
      setNotice(null);
      try {
        await action();
      } catch (e) {
        if (e instanceof ApiError && e.status === 412) {
          setNotice("The playlist changed elsewhere; this is its latest version. Try again.");
          loaded.reload();
          return;
        }
        throw e;
      } finally {
        loaded.reload();
      }
    });

  const edit = (body: Schemas["PlaylistPatchIn"]) =>
    edited(async () => {
      await call(api.PATCH("/playlists/{playlist_id}", { params: { path: { playlist_id: id }, header: ifMatch(p.version) }, body }));
    });

  const moveItem = (from: number, to: number) => {
    const item = p.items[from];
    if (!item || to < 0 || to >= p.items.length || from === to) return;
    loaded.setData({ ...p, items: move(p.items, from, to) }); // at once; the reload confirms it
    void edited(async () => {
      await call(
        api.PATCH("/playlists/{playlist_id}/items/{item_id}", {
          params: { path: { playlist_id: id, item_id: item.id }, header: ifMatch(p.version) },
          body: { position: to },
        }),
      );
      setNotice(`Moved “${item.episode_title}” to position ${to + 1}.`);
    });
  };

  const removeItem = (item: Item) =>
    void edited(async () => {
      await call(
        api.DELETE("/playlists/{playlist_id}/items/{item_id}", {
          params: { path: { playlist_id: id, item_id: item.id }, header: ifMatch(p.version) },
        }),
      );
    });

  const saveNote = (item: Item, note: string | null) =>
    void edited(async () => {
      await call(
        api.PATCH("/playlists/{playlist_id}/items/{item_id}", {
          params: { path: { playlist_id: id, item_id: item.id }, header: ifMatch(p.version) },
          body: { note },
        }),
      );
      setNotice("Note saved.");
    });

  const queue = playable(p.items.map((i) => fromPlaylistItem(id, i)));
  const playItem = (item: Item) => {
    const at = queue.findIndex((q) => q.key === item.id);
    if (at >= 0) player.playQueue(queue, { startAt: at, skipHeard: false });
  };

  const shareUrl = p.share_token ? `${window.location.origin}/shared/playlists/${p.share_token}` : null;
  const exportBase = shareToken ? `/shared/playlists/${encodeURIComponent(shareToken)}/export` : `/playlists/${id}/export`;
  const filename = (ext: string) => `${p.title.replace(/[^\w.-]+/g, "_").slice(0, 60) || "playlist"}.${ext}`;
  const exportAs = (fmt: "m3u" | "rss" | "json") =>
    void run(() => download(`${exportBase}?format=${fmt}`, filename(fmt === "rss" ? "xml" : fmt)));

  const onDrop = (e: DragEvent, to: number) => {
    e.preventDefault();
    if (dragFrom !== null) moveItem(dragFrom, to);
    setDragFrom(null);
  };

  return (
    <>
      <h1>{p.title}</h1>
      <p className="muted">
        {p.kind === "topic" ? `A topic playlist: it grows as new episodes are processed${p.refreshed_at ? ` (last ${date(p.refreshed_at)})` : ""}. ` : ""}
        {p.items.length} items
        {p.skipped_heard ? ` (${p.skipped_heard} you have heard are hidden)` : ""}.
      </p>
      {p.description ? <p>{p.description}</p> : null}
      <ErrorMessage error={error} />
      {notice ? <Status>{notice}</Status> : null}
      <p>
        <button type="button" className="primary" disabled={!queue.length} onClick={() => player.playQueue(queue, { skipHeard: p.skip_heard })}>
          Play playlist
        </button>
      </p>
      {mine ? <Settings key={p.version} playlist={p} edit={edit} /> : null}
      {p.items.length === 0 ? (
        <p>
          Nothing here yet: add passages from <Link to="/search">Search</Link> or ask for a topic.
        </p>
      ) : null}
      <ol aria-label="Playlist" className="cards playlist">
        {p.items.map((item, i) => (
          <li
            key={item.id}
            className={dragFrom === i ? "card dragging" : "card"}
            draggable={mine}
            onDragStart={(e) => {
              setDragFrom(i);
              e.dataTransfer.effectAllowed = "move";
              e.dataTransfer.setData("text/plain", String(i));
            }}
            onDragOver={(e) => {
              if (mine && dragFrom !== null) e.preventDefault();
            }}
            onDrop={(e) => onDrop(e, i)}
            onDragEnd={() => setDragFrom(null)}
          >
            <h3>
              {mine ? <span className="handle" aria-hidden="true">⠿ </span> : null}
              {i + 1}. <Link to={`/episodes/${item.episode_id}?t=${Math.floor(item.start_s ?? 0)}`}>{item.episode_title}</Link>
            </h3>
            <p className="muted">
              {item.podcast_title}
              {item.start_s !== null && item.end_s !== null
                ? ` · ${clock(item.start_s)}–${clock(item.end_s)} · length ${clock(item.end_s - item.start_s)}`
                : " · whole episode"}
              {item.added_by === "topic" ? " · added by the topic" : ""}
            </p>
            {item.reason ? <blockquote>{item.reason}</blockquote> : null}
            {item.note && !mine ? <p>Note: {item.note}</p> : null}
            <p className="row">
              <button type="button" onClick={() => playItem(item)} disabled={!item.enclosure_url}>
                Play item {i + 1}
              </button>
              {mine ? (
                <>
                  <button type="button" onClick={() => moveItem(i, i - 1)} disabled={busy || i === 0}>
                    Move item {i + 1} up
                  </button>
                  <button type="button" onClick={() => moveItem(i, i + 1)} disabled={busy || i === p.items.length - 1}>
                    Move item {i + 1} down
                  </button>
                  <button type="button" onClick={() => removeItem(item)} disabled={busy}>
                    Remove item {i + 1}
                  </button>
                </>
              ) : null}
            </p>
            {mine ? <Note key={`${item.id}-${item.note ?? ""}`} index={i} item={item} save={(n) => saveNote(item, n)} /> : null}
          </li>
        ))}
      </ol>
      <section aria-labelledby="share-heading">
        <h2 id="share-heading">Share and export</h2>
        {mine ? (
          <div className="stack">
            {shareUrl ? (
              <label>
                Share link
                <input type="text" readOnly value={shareUrl} onFocus={(e) => e.target.select()} />
              </label>
            ) : null}
            <p>
              <button
                type="button"
                disabled={busy}
                onClick={() =>
                  void edited(async () => {
                    await call(api.POST("/playlists/{playlist_id}/share-token", { params: { path: { playlist_id: id }, header: ifMatch(p.version) } }));
                    setNotice("A new share link was made; the old one no longer works.");
                  })
                }
              >
                {shareUrl ? "New share link" : "Create share link"}
              </button>
            </p>
          </div>
        ) : null}
        <p className="row">
          <button type="button" onClick={() => exportAs("m3u")}>Download M3U</button>
          <button type="button" onClick={() => exportAs("rss")}>Download RSS</button>
          <button type="button" onClick={() => exportAs("json")}>Download JSON</button>
        </p>
        {p.visibility !== "private" && p.share_token ? (
          <p className="muted">
            Podcast apps can subscribe to <code>{`${API_ORIGIN || window.location.origin}/shared/playlists/${p.share_token}/export?format=rss`}</code>
          </p>
        ) : null}
      </section>
      {mine ? (
        <p>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              if (!window.confirm(`Delete the playlist “${p.title}”?`)) return;
              void run(async () => {
                await call(api.DELETE("/playlists/{playlist_id}", { params: { path: { playlist_id: id }, header: ifMatch(p.version) } }));
                navigate("/playlists");
              });
            }}
          >
            Delete playlist
          </button>
        </p>
      ) : null}
    </>
  );
}
