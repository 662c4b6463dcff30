/**
 * The one player of the app: the `<audio>` element, the queue (queue.ts decides what its times
 * mean), what was heard (from /me/history), the place kept in localStorage, keyboard controls
 * and the Media Session keys.
 */
import {
  createContext,
  type ReactNode,
  type RefObject,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "react";

import { api, call } from "../api/client";
import { useAuth } from "../auth";
import * as Q from "./queue";

const STORAGE_KEY = "tmm.player.v1";
const EMPTY: Q.QueueState = { items: [], index: 0, position: 0 };
export const SKIP_S = 15;

export interface Player {
  audioRef: RefObject<HTMLAudioElement | null>;
  state: Q.QueueState;
  item: Q.QueueItem | null;
  playing: boolean;
  /** Seconds into the current episode, updated a few times a second. */
  time: number;
  heard: Q.HeardRange[];
  /** Replace the queue and start playing (``autoplay``) at the first unheard item. */
  playQueue(items: Q.QueueItem[], options?: { startAt?: number; skipHeard?: boolean; autoplay?: boolean }): void;
  toggle(): void;
  next(): void;
  previous(): void;
  jump(index: number): void;
  seekTo(seconds: number): void;
  seekBy(seconds: number): void;
}

const PlayerContext = createContext<Player | null>(null);

function saved(): Q.QueueState {
  try {
    return Q.restore(localStorage.getItem(STORAGE_KEY)) ?? EMPTY;
  } catch {
    return EMPTY;
  }
}

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

export function PlayerProvider({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  const audioRef = useRef<HTMLAudioElement | null>(null);
  const [state, setState] = useState<Q.QueueState>(saved);
  const stateRef = useRef(state);
  const [seekToken, setSeekToken] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [time, setTime] = useState(state.position);
  const [heard, setHeard] = useState<Q.HeardRange[]>([]);
  const heardRef = useRef(heard);
  const wantPlay = useRef(false);
  const loadedUrl = useRef<string | null>(null);
  const onLoaded = useRef<(() => void) | null>(null);
  const pendingSeek = useRef<{ to: number; at: number } | null>(null);
  const lastSaved = useRef(0);
  const endTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  /** The queue moved on and the audio is not there yet: its times and `ended` are the old item's. */
  const moving = useRef(false);
  const signedIn = user !== null;

  // Only a page that played or changed the queue writes it back: another tab's queue must not
  // be overwritten by a page that merely loaded (and closed) with it.
  const dirty = useRef(false);
  const persist = useCallback((s: Q.QueueState, force = false) => {
    dirty.current = true;
    const now = Date.now();
    if (!force && now - lastSaved.current < 2000) return;
    lastSaved.current = now;
    try {
      localStorage.setItem(STORAGE_KEY, Q.serialize(s));
    } catch {
      /* private mode or full: the place is only kept for this page */
    }
  }, []);

  /** Make ``s`` current; ``seek`` moves the audio to its position (loading another episode). */
  const apply = useCallback(
    (s: Q.QueueState, options: { seek: boolean; play?: boolean }) => {
      stateRef.current = s;
      setState(s);
      if (options.play !== undefined) wantPlay.current = options.play;
      if (options.seek) {
        moving.current = true;
        setSeekToken((n) => n + 1);
      }
      persist(s, true);
    },
    [persist],
  );

  // What was heard, for skipping it: the latest page of /me/history (the API's maximum page).
  useEffect(() => {
    if (!signedIn) {
      heardRef.current = [];
      setHeard([]);
      return;
    }
    let live = true;
    call(api.GET("/me/history", { params: { query: { limit: 100 } } }))
      .then((page) => {
        if (!live) return;
        const ranges = page.items.map((e) => ({ episodeId: e.episode_id, start: e.start_s, end: e.end_s }));
        heardRef.current = ranges;
        setHeard(ranges);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [signedIn]);

  const recordHeard = useCallback(
    (item: Q.QueueItem) => {
      const audio = audioRef.current;
      const end = item.end ?? (audio && Number.isFinite(audio.duration) ? audio.duration : null);
      const range: Q.HeardRange = { episodeId: item.episodeId, start: item.start, end };
      heardRef.current = [...heardRef.current, range];
      setHeard(heardRef.current);
      if (!signedIn) return;
      const done =
        item.playlistId && item.itemId
          ? api.POST("/playlists/{playlist_id}/items/{item_id}/heard", {
              params: { path: { playlist_id: item.playlistId, item_id: item.itemId } },
            })
          : api.POST("/me/history", {
              body: { episode_id: item.episodeId, start_s: item.start, end_s: end ?? undefined },
            });
      done.catch(() => undefined); // best effort: the place in the queue is what matters here
    },
    [signedIn],
  );

  // Move the audio to the queue's position whenever a queue action asks for it.
  useEffect(() => {
    const audio = audioRef.current;
    if (!audio) return;
    const s = stateRef.current;
    const item = Q.current(s);
    if (!item) {
      moving.current = false;
      audio.pause();
      return;
    }
    const go = () => {
      moving.current = false;
      pendingSeek.current = { to: s.position, at: Date.now() };
      audio.currentTime = s.position;
      setTime(s.position);
      if (wantPlay.current) audio.play().catch(() => setPlaying(false));
    };
    // A load still pending (another episode asked for just before) must not seek this one.
    if (onLoaded.current) audio.removeEventListener("loadedmetadata", onLoaded.current);
    onLoaded.current = null;
    if (loadedUrl.current !== item.audioUrl) {
      loadedUrl.current = item.audioUrl;
      onLoaded.current = go;
      audio.addEventListener("loadedmetadata", go, { once: true });
      audio.src = item.audioUrl;
    } else if (audio.readyState === 0) {
      onLoaded.current = go; // same episode, its metadata not loaded yet
      audio.addEventListener("loadedmetadata", go, { once: true });
    } else {
      go();
    }
  }, [seekToken]);

  const check = useCallback(() => {
    const audio = audioRef.current;
    if (!audio) return;
    if (moving.current) return;
    const t = audio.currentTime;
    const pending = pendingSeek.current;
    if (pending !== null) {
      // A time from before the seek landed (given up after a while: a server without ranges).
      if (Math.abs(t - pending.to) > 1 && Date.now() - pending.at < 3000) return;
      pendingSeek.current = null;
    }
    const result = Q.tick(stateRef.current, t, heardRef.current);
    if (result.ended) {
      recordHeard(result.ended);
      const more = !Q.finished(result.state);
      if (!more) audio.pause();
      apply(result.state, { seek: more, play: more && !audio.paused });
      return;
    }
    stateRef.current = result.state;
    setTime(t);
    persist(result.state);
    // timeupdate comes every ~250 ms: wake up right at the range's end instead.
    const end = Q.current(result.state)?.end;
    clearTimeout(endTimer.current);
    if (end != null && !audio.paused && end - t < 1) {
      endTimer.current = setTimeout(check, Math.max(0, ((end - t) / (audio.playbackRate || 1)) * 1000));
    }
  }, [apply, persist, recordHeard]);

  const onEnded = useCallback(() => {
    // A range that ends where its episode does is often ended by the last `timeupdate`, which
    // the browser fires in the same task as `ended`: the queue has already moved on, and this
    // event speaks of the item it left, not of the next one, which has not played yet.
    if (moving.current) return;
    const result = Q.episodeEnded(stateRef.current, heardRef.current);
    if (result.ended) recordHeard(result.ended);
    const more = !Q.finished(result.state);
    apply(result.state, { seek: more, play: more });
  }, [apply, recordHeard]);

  useEffect(() => {
    const audio = audioRef.current;
    if (!audio) return;
    const onPlay = () => setPlaying(true);
    const onPause = () => {
      setPlaying(false);
      if (dirty.current) persist(stateRef.current, true);
    };
    audio.addEventListener("timeupdate", check);
    audio.addEventListener("seeked", check);
    audio.addEventListener("ended", onEnded);
    audio.addEventListener("play", onPlay);
    audio.addEventListener("pause", onPause);
    const keep = () => {
      if (dirty.current) persist(stateRef.current, true);
    };
    window.addEventListener("pagehide", keep);
    return () => {
      audio.removeEventListener("timeupdate", check);
      audio.removeEventListener("seeked", check);
      audio.removeEventListener("ended", onEnded);
      audio.removeEventListener("play", onPlay);
      audio.removeEventListener("pause", onPause);
      window.removeEventListener("pagehide", keep);
    };
  }, [check, onEnded, persist]);

  const player = useMemo<Player>(() => {
    const audio = () => audioRef.current;
    return {
      audioRef,
      state,
      item: Q.current(state),
      playing,
      time,
      heard,
      playQueue(items, options = {}) {
        const s = Q.load(items, heardRef.current, {
          skipHeard: options.skipHeard ?? true,
          startAt: options.startAt ?? 0,
        });
        apply(s, { seek: true, play: options.autoplay ?? true });
      },
      toggle() {
        const a = audio();
        if (!a || !Q.current(stateRef.current)) return;
        if (a.paused) {
          wantPlay.current = true;
          if (loadedUrl.current === null) setSeekToken((n) => n + 1);
          else a.play().catch(() => setPlaying(false));
        } else {
          a.pause();
        }
      },
      next() {
        apply(Q.next(stateRef.current, heardRef.current), { seek: true, play: !audio()?.paused });
      },
      previous() {
        const s = { ...stateRef.current, position: audio()?.currentTime ?? stateRef.current.position };
        apply(Q.previous(s), { seek: true, play: !audio()?.paused });
      },
      jump(index) {
        apply(Q.jumpTo(stateRef.current, index), { seek: true, play: true });
      },
      seekTo(seconds) {
        const a = audio();
        const s = Q.seek(stateRef.current, seconds, a?.duration);
        if (loadedUrl.current === null) {
          apply(s, { seek: true });
          return;
        }
        stateRef.current = s;
        setState(s);
        if (a) {
          pendingSeek.current = { to: s.position, at: Date.now() };
          a.currentTime = s.position;
        }
        setTime(s.position);
        persist(s, true);
      },
      seekBy(seconds) {
        this.seekTo((audio()?.currentTime ?? stateRef.current.position) + seconds);
      },
    };
  }, [state, playing, time, heard, apply, persist]);

  const playerRef = useRef(player);
  playerRef.current = player;

  // Keyboard: space, arrows, n/p, anywhere but in a text field (or on a button, for space).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey || e.ctrlKey || e.metaKey || typing(e.target)) return;
      const p = playerRef.current;
      if (!p.state.items.length) return;
      if (e.key === " " || e.code === "Space") {
        if (e.target instanceof HTMLButtonElement || e.target instanceof HTMLAnchorElement) return;
        p.toggle();
      } else if (e.key === "ArrowLeft") p.seekBy(-SKIP_S);
      else if (e.key === "ArrowRight") p.seekBy(SKIP_S);
      else if (e.key === "n" || e.key === "N") p.next();
      else if (e.key === "p" || e.key === "P") p.previous();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  // Media Session: the lock screen and headset keys.
  const item = Q.current(state);
  useEffect(() => {
    const ms = typeof navigator !== "undefined" ? navigator.mediaSession : undefined;
    if (!ms) return;
    ms.metadata = item
      ? new MediaMetadata({ title: item.title, artist: item.podcastTitle, album: "Tell Me More" })
      : null;
    const handlers: [MediaSessionAction, MediaSessionActionHandler][] = [
      ["play", () => playerRef.current.toggle()],
      ["pause", () => playerRef.current.toggle()],
      ["previoustrack", () => playerRef.current.previous()],
      ["nexttrack", () => playerRef.current.next()],
      ["seekbackward", (d) => playerRef.current.seekBy(-(d.seekOffset ?? SKIP_S))],
      ["seekforward", (d) => playerRef.current.seekBy(d.seekOffset ?? SKIP_S)],
      ["seekto", (d) => d.seekTime !== undefined && playerRef.current.seekTo(d.seekTime)],
    ];
    for (const [action, handler] of handlers) {
      try {
        ms.setActionHandler(action, handler);
      } catch {
        /* an action this browser does not support */
      }
    }
  }, [item]);

  useEffect(() => {
    const ms = typeof navigator !== "undefined" ? navigator.mediaSession : undefined;
    if (ms) ms.playbackState = playing ? "playing" : "paused";
  }, [playing]);

  return <PlayerContext.Provider value={player}>{children}</PlayerContext.Provider>;
}

export function usePlayer(): Player {
  const player = useContext(PlayerContext);
  if (!player) throw new Error("usePlayer outside PlayerProvider");
  return player;
}
