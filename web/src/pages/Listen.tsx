/** Now playing: the queue, and the current episode's read-along. */
import { Link } from "react-router";

import { clock } from "../format";
import { usePlayer } from "../player/PlayerContext";
import { EpisodeView } from "./Episode";

export default function Listen() {
  const player = usePlayer();
  const { items, index } = player.state;
  return (
    <>
      <h1 className={player.item ? "visually-hidden" : undefined}>Now playing</h1>
      {items.length ? (
        <details className="queue" open={!player.item}>
          <summary>Queue ({items.length})</summary>
          <ol aria-label="Queue">
            {items.map((item, i) => (
              <li key={item.key} aria-current={i === index ? "true" : undefined}>
                <button type="button" className="link" onClick={() => player.jump(i)}>
                  Play queue item {i + 1}
                </button>{" "}
                {item.podcastTitle} — {item.title}{" "}
                <span className="muted">
                  {clock(item.start)}
                  {item.end !== null ? `–${clock(item.end)}` : ""}
                </span>
              </li>
            ))}
          </ol>
        </details>
      ) : (
        <p>
          The queue is empty. <Link to="/">Ask for a topic</Link> or <Link to="/search">search</Link>.
        </p>
      )}
      {player.item ? <EpisodeView episodeId={player.item.episodeId} startAt={null} /> : null}
    </>
  );
}
