/** One episode: its details, summary and chapters, and the read-along transcript beside the
 * player. `?t=<seconds>` opens the player at that second (the links "copy quote" makes). */
import { useCallback, useEffect, useRef } from "react";
import { Link, useParams, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { Transcript } from "../components/Transcript";
import { ErrorMessage, Status, useLoad } from "../components/ui";
import { clock, date } from "../format";
import { fromEpisode } from "../player/items";
import { usePlayer } from "../player/PlayerContext";

const BUSY = new Set(["new", "queued", "processing"]);
const POLL_MS = 3000;

type Progress = NonNullable<Schemas["EpisodeOut"]["progress"]>;

function progressText(p: Progress | null | undefined): string {
  if (!p || p.done == null) return "";
  const unit = p.unit ? ` ${p.unit}` : "";
  return p.total ? ` (${p.done} of ${p.total}${unit}, ${Math.floor((100 * p.done) / p.total)}%)` : ` (${p.done}${unit})`;
}

export function statusText(
  e: Pick<Schemas["EpisodeOut"], "status" | "processing_step" | "error_message" | "progress">,
): string {
  switch (e.status) {
    case "new":
      return "New";
    case "queued":
      return "Queued";
    case "processing": {
      const step = e.progress?.step ?? e.processing_step;
      return (step ? `Processing: ${step}` : "Processing") + progressText(e.progress);
    }
    case "done":
      return "Done";
    case "failed":
      return `Failed: ${e.error_message ?? "processing failed"}`;
  }
}

export function EpisodeView({ episodeId, startAt }: { episodeId: string; startAt: number | null }) {
  const player = usePlayer();
  const episode = useLoad(() => call(api.GET("/episodes/{episode_id}", { params: { path: { episode_id: episodeId } } })), [episodeId]);
  const e = episode.data;
  const podcast = useLoad(
    e ? () => call(api.GET("/podcasts/{podcast_id}", { params: { path: { podcast_id: e.podcast_id } } })) : null,
    [e?.podcast_id],
  );
  const podcastTitle = podcast.data?.title ?? "";

  // The processing status updates by itself while the episode is being processed.
  const busy = e ? BUSY.has(e.status) : false;
  const { reload } = episode;
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(reload, POLL_MS);
    return () => clearInterval(timer);
  }, [busy, reload]);

  const playFrom = useCallback(
    (seconds: number, autoplay = true) => {
      if (!e) return;
      const item = fromEpisode(e, podcastTitle, seconds);
      if (item) player.playQueue([item], { skipHeard: false, autoplay });
    },
    [e, podcastTitle, player],
  );

  // ?t=: put the player there once, unless it is busy playing something else.
  const opened = useRef<string | null>(null);
  useEffect(() => {
    if (!e || startAt === null || !podcast.data) return;
    const key = `${e.id}@${startAt}`;
    if (opened.current === key) return;
    opened.current = key;
    if (player.item?.episodeId === e.id) player.seekTo(startAt);
    else if (!player.playing) playFrom(startAt, false);
  }, [e, startAt, podcast.data, player, playFrom]);

  if (episode.error && !e) return <ErrorMessage error={episode.error} />;
  if (!e) return <Status>Loading the episode…</Status>;
  const chapters = e.summary?.chapters ?? [];
  const here = player.item?.episodeId === e.id;
  return (
    <div className="episode">
      <div className="episode-info">
        <h1>{e.title}</h1>
        <p className="muted">
          {podcast.data ? <Link to={`/podcasts/${e.podcast_id}`}>{podcastTitle}</Link> : null}
          {[podcast.data ? "" : null, e.published_at ? date(e.published_at) : null, e.duration_s ? clock(e.duration_s) : null]
            .filter((part) => part !== null)
            .join(" · ")}
        </p>
        <p>
          Status: <span data-testid="episode-status">{statusText(e)}</span>
        </p>
        <p className="row">
          <button type="button" className="primary" onClick={() => playFrom(startAt ?? 0)} disabled={!e.enclosure_url}>
            Play from here
          </button>
          {startAt !== null ? <span className="muted">from {clock(startAt)}</span> : null}
        </p>
        <section aria-label="Summary">
          <h2>Summary</h2>
          {e.summary ? (
            <>
              <p>{e.summary.summary}</p>
              {e.summary.topics.length ? <p className="muted">Topics: {e.summary.topics.join(", ")}</p> : null}
            </>
          ) : (
            <p className="muted">No summary yet{busy ? ": the episode is being processed" : ""}.</p>
          )}
        </section>
        {chapters.length ? (
          <section aria-labelledby="chapters-heading">
            <h2 id="chapters-heading">Chapters</h2>
            <p className="muted">
              {e.summary?.chapters_source === "publisher" ? "From the publisher." : "Made by the summarizer."}
            </p>
            <ol aria-label="Chapters" className="chapters">
              {chapters.map((c) => (
                <li key={c.start_s}>
                  <button type="button" className="link" onClick={() => (here ? player.seekTo(c.start_s) : playFrom(c.start_s))}>
                    {c.title}
                  </button>{" "}
                  <span className="muted">{clock(c.start_s)}</span>
                </li>
              ))}
            </ol>
          </section>
        ) : null}
      </div>
      {e.status === "done" ? (
        <Transcript episodeId={e.id} episodeTitle={e.title} podcastTitle={podcastTitle} playFrom={playFrom} />
      ) : (
        <section aria-label="Transcript" className="transcript">
          <h2>Transcript</h2>
          <p className="muted">The transcript appears once the episode is processed ({statusText(e)}).</p>
        </section>
      )}
    </div>
  );
}

export default function Episode() {
  const { episodeId = "" } = useParams();
  const [params] = useSearchParams();
  const t = Number(params.get("t"));
  const startAt = params.has("t") && Number.isFinite(t) && t >= 0 ? t : null;
  return <EpisodeView episodeId={episodeId} startAt={startAt} />;
}
