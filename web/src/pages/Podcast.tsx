/** A podcast and its episodes, with processing status that updates while episodes process. */
import { useEffect } from "react";
import { Link, useParams } from "react-router";

import { api, call } from "../api/client";
import { ErrorMessage, Status, useAction, useLoad } from "../components/ui";
import { clock, date } from "../format";
import { statusText } from "./Episode";

const BUSY = new Set(["new", "queued", "processing"]);

export default function Podcast() {
  const { podcastId = "" } = useParams();
  const podcast = useLoad(() => call(api.GET("/podcasts/{podcast_id}", { params: { path: { podcast_id: podcastId } } })), [podcastId]);
  const episodes = useLoad(
    () => call(api.GET("/podcasts/{podcast_id}/episodes", { params: { path: { podcast_id: podcastId }, query: { limit: 100 } } })),
    [podcastId],
  );
  const { busy, error, run } = useAction();
  const processing = episodes.data?.items.some((e) => e.status === "queued" || e.status === "processing") ?? false;
  const { reload } = episodes;
  useEffect(() => {
    if (!processing) return;
    const timer = setInterval(reload, 3000);
    return () => clearInterval(timer);
  }, [processing, reload]);

  if (podcast.error && !podcast.data) return <ErrorMessage error={podcast.error} />;
  const p = podcast.data;
  return (
    <>
      <h1>{p?.title ?? "Podcast"}</h1>
      {p ? (
        <>
          <p className="muted">
            {p.author ? `${p.author} · ` : ""}
            {p.episode_count} episodes{p.last_success_at ? ` · fetched ${date(p.last_success_at)}` : ""}
          </p>
          {p.last_error ? <p className="error">The last fetch failed: {p.last_error}</p> : null}
          {p.description ? <p>{p.description.slice(0, 600)}</p> : null}
          <p>
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                void run(async () => {
                  await call(api.POST("/podcasts/{podcast_id}/refresh", { params: { path: { podcast_id: podcastId } } }));
                  reload();
                })
              }
            >
              Refresh feed
            </button>
          </p>
        </>
      ) : null}
      <ErrorMessage error={error ?? episodes.error} />
      {processing ? <Status>Episodes are being processed; this list updates by itself.</Status> : null}
      {episodes.data ? (
        <ul aria-label="Episodes" className="plain">
          {episodes.data.items.map((e) => (
            <li key={e.id}>
              <Link to={`/episodes/${e.id}`}>{e.title}</Link>{" "}
              <span className="muted">
                {e.published_at ? `${date(e.published_at)} · ` : ""}
                {e.duration_s ? `${clock(e.duration_s)} · ` : ""}
              </span>
              <span data-testid="episode-status" className={BUSY.has(e.status) ? "badge busy" : `badge ${e.status}`}>
                {statusText(e)}
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <Status>Loading episodes…</Status>
      )}
    </>
  );
}
