/** The player region at the bottom of every page: the audio element and its buttons. */
import { Link } from "react-router";

import { clock } from "../format";
import { SKIP_S, usePlayer } from "./PlayerContext";
import { finished } from "./queue";

export function PlayerBar() {
  const p = usePlayer();
  const item = p.item;
  const total = p.state.items.length;
  return (
    <section aria-label="Player" className="player">
      <audio ref={p.audioRef} preload="metadata" controls className="audio" />
      <div className="player-row">
        <button type="button" onClick={p.previous} disabled={!total} aria-keyshortcuts="p">
          Previous
        </button>
        <button type="button" onClick={() => p.seekBy(-SKIP_S)} disabled={!item} aria-keyshortcuts="ArrowLeft">
          Back 15 seconds
        </button>
        <button type="button" className="primary" onClick={p.toggle} disabled={!item} aria-keyshortcuts="Space">
          {p.playing ? "Pause" : "Play"}
        </button>
        <button type="button" onClick={() => p.seekBy(SKIP_S)} disabled={!item} aria-keyshortcuts="ArrowRight">
          Forward 15 seconds
        </button>
        <button type="button" onClick={p.next} disabled={!item} aria-keyshortcuts="n">
          Next
        </button>
      </div>
      <p className="now" data-testid="now-playing">
        {item ? (
          <>
            <Link to="/listen">Now playing</Link>: {item.podcastTitle} — {item.title}{" "}
            <span className="muted">
              ({clock(p.time)}
              {item.end !== null ? ` · until ${clock(item.end)}` : ""} · item {p.state.index + 1} of {total})
            </span>
          </>
        ) : total && finished(p.state) ? (
          "Finished: everything in the queue was played."
        ) : (
          "Nothing is playing. Ask for a topic or search, then press play."
        )}
      </p>
    </section>
  );
}
