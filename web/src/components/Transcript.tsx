/**
 * Read-along: the transcript beside the player, following the audio (the word being spoken is
 * highlighted where the transcript has word timings), a tap on a sentence seeks there, a search
 * inside it, and "copy quote" with a link that opens the player at that second.
 */
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";

import { api, call } from "../api/client";
import { episodeLink } from "../format";
import { usePlayer } from "../player/PlayerContext";
import { matches, parseTranscript, quote, type Sentence, sentenceAt, wordAt } from "../player/transcript";
import { ErrorMessage, Status, useLoad } from "./ui";

interface Props {
  episodeId: string;
  episodeTitle: string;
  podcastTitle: string;
  /** Plays the episode from ``seconds`` when the player holds another episode. */
  playFrom(seconds: number): void;
}

/** The audio's time at animation-frame rate while this episode plays (words last ~0.3 s). */
function useFineTime(active: boolean): number {
  const player = usePlayer();
  const [time, setTime] = useState(player.time);
  useEffect(() => {
    if (!active) return;
    if (!player.playing) {
      setTime(player.time);
      return;
    }
    let frame = 0;
    const step = () => {
      const audio = player.audioRef.current;
      if (audio) setTime(audio.currentTime);
      frame = requestAnimationFrame(step);
    };
    frame = requestAnimationFrame(step);
    return () => cancelAnimationFrame(frame);
  }, [active, player.playing, player.time, player.audioRef]);
  return time;
}

const Line = memo(function Line({
  sentence,
  index,
  current,
  word,
  matched,
  onSeek,
}: {
  sentence: Sentence;
  index: number;
  current: boolean;
  word: number;
  matched: boolean;
  onSeek(index: number): void;
}) {
  return (
    <li data-index={index} className={matched ? "matched" : undefined}>
      <button
        type="button"
        className={current ? "sentence current" : "sentence"}
        aria-current={current ? "true" : undefined}
        onClick={() => onSeek(index)}
      >
        {current && sentence.words.length
          ? sentence.words.map((w, i) => (
              <span key={i} className={i === word ? "word word-active" : "word"}>
                {w.text}{" "}
              </span>
            ))
          : sentence.text}
      </button>
    </li>
  );
});

export function Transcript({ episodeId, episodeTitle, podcastTitle, playFrom }: Props) {
  const player = usePlayer();
  const loaded = useLoad(
    () =>
      call(
        api.GET("/episodes/{episode_id}/transcript", {
          params: { path: { episode_id: episodeId }, query: { format: "json" } },
          parseAs: "json",
        }),
      ).then(parseTranscript),
    [episodeId],
  );
  const sentences = useMemo(() => loaded.data ?? [], [loaded.data]);
  const here = player.item?.episodeId === episodeId;
  const time = useFineTime(here);
  const currentIndex = here ? sentenceAt(sentences, time) : -1;
  const currentWord = currentIndex >= 0 ? wordAt(sentences[currentIndex], time) : -1;
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState("");
  const found = useMemo(() => new Set(matches(sentences, query)), [sentences, query]);
  const [matchAt, setMatchAt] = useState(-1);
  const [picked, setPicked] = useState<number | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const listRef = useRef<HTMLOListElement>(null);

  const scrollTo = (index: number) => {
    const list = listRef.current;
    const el = list?.querySelector<HTMLElement>(`li[data-index="${index}"]`);
    if (list && el) list.scrollTop = el.offsetTop - list.clientHeight / 3;
  };

  useEffect(() => {
    if (follow && currentIndex >= 0) scrollTo(currentIndex);
  }, [follow, currentIndex]);

  // Stable while the audio plays (the player changes a few times a second), so the memoised
  // sentences do not all re-render with it.
  const playerRef = useRef(player);
  playerRef.current = player;
  const playFromRef = useRef(playFrom);
  playFromRef.current = playFrom;
  const seek = useCallback(
    (index: number) => {
      const s = sentences[index];
      if (!s) return;
      setPicked(index);
      const p = playerRef.current;
      if (p.item?.episodeId === episodeId) p.seekTo(s.start);
      else playFromRef.current(s.start);
    },
    [sentences, episodeId],
  );

  const nextMatch = () => {
    const list = [...found].sort((a, b) => a - b);
    if (!list.length) return;
    const i = list.find((m) => m > matchAt) ?? list[0]!;
    setMatchAt(i);
    setFollow(false);
    scrollTo(i);
    listRef.current?.querySelector<HTMLButtonElement>(`li[data-index="${i}"] button`)?.focus();
  };

  const copyQuote = async () => {
    // The selected words if the selection is inside the transcript, else the sentence playing
    // (or the one last tapped), with a link to its first second.
    const selection = window.getSelection();
    let text = "";
    let index = currentIndex >= 0 ? currentIndex : (picked ?? 0);
    if (selection && !selection.isCollapsed && listRef.current?.contains(selection.anchorNode)) {
      text = selection.toString();
      const li = (selection.anchorNode instanceof Element ? selection.anchorNode : selection.anchorNode?.parentElement)?.closest("li[data-index]");
      if (li) index = Number(li.getAttribute("data-index"));
    }
    const sentence = sentences[index];
    if (!sentence) return;
    const out = quote(text || sentence.text, podcastTitle, episodeTitle, episodeLink(episodeId, sentence.start));
    try {
      await navigator.clipboard.writeText(out);
      setCopied(`Copied: ${out}`);
    } catch {
      setCopied(`Copy this: ${out}`);
    }
  };

  return (
    <section aria-label="Transcript" className="transcript">
      <h2>Transcript</h2>
      {loaded.loading ? <Status>Loading the transcript…</Status> : null}
      <ErrorMessage error={loaded.error} />
      {sentences.length ? (
        <>
          <div className="row transcript-tools">
            <label>
              Search transcript
              <input
                type="search"
                value={query}
                onChange={(e) => {
                  setQuery(e.target.value);
                  setMatchAt(-1);
                }}
                onKeyDown={(e) => {
                  if (e.key === "Enter") {
                    e.preventDefault();
                    nextMatch();
                  }
                }}
              />
            </label>
            <button type="button" onClick={nextMatch} disabled={!found.size}>
              Next match
            </button>
            <label className="check">
              <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
              Follow the audio
            </label>
            <button type="button" onClick={() => void copyQuote()}>
              Copy quote
            </button>
          </div>
          {query.trim() ? <Status>{found.size} matching sentences</Status> : null}
          {copied ? <Status>{copied}</Status> : null}
          <ol aria-label="Transcript sentences" className="sentences" ref={listRef}>
            {sentences.map((s, i) => (
              <Line
                key={i}
                sentence={s}
                index={i}
                current={i === currentIndex}
                word={i === currentIndex ? currentWord : -1}
                matched={found.has(i)}
                onSeek={seek}
              />
            ))}
          </ol>
        </>
      ) : null}
    </section>
  );
}
