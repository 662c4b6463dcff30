/**
 * The player's playlist logic, free of the DOM so it can be tested on its own: a queue of time
 * ranges (not whole episodes) played in order, each from its start to its end; what was heard
 * is skipped; the place is kept across reloads.
 *
 * The audio element only reports times; these functions decide what those times mean.
 */

export interface QueueItem {
  /** Stable within a queue: a playlist item's id, or the episode and start. */
  key: string;
  episodeId: string;
  title: string;
  podcastTitle: string;
  /** The enclosure, without a media fragment: ranges are played by seeking, not by `#t=`. */
  audioUrl: string;
  /** Seconds into the episode. */
  start: number;
  /** Seconds into the episode; null plays to the episode's end. */
  end: number | null;
  playlistId?: string | undefined;
  itemId?: string | undefined;
}

/** Something heard: a range of an episode, or the whole episode (both null). */
export interface HeardRange {
  episodeId: string;
  start: number | null;
  end: number | null;
}

export interface QueueState {
  items: QueueItem[];
  /** The item playing; `items.length` once the queue is finished. */
  index: number;
  /** Seconds into the current item's episode. */
  position: number;
}

/** An item counts as ended this close to its end: `timeupdate` fires only every ~250 ms. */
export const END_TOLERANCE_S = 0.25;
/** A range counts as heard when no gap longer than this (or a tenth of it) is left unheard. */
export const HEARD_SLACK_S = 1;
/** "Previous" restarts the current item when more than this has played of it. */
export const RESTART_AFTER_S = 3;

export function stripFragment(url: string): string {
  const hash = url.indexOf("#");
  return hash < 0 ? url : url.slice(0, hash);
}

export function itemKey(episodeId: string, start: number): string {
  return `${episodeId}@${start.toFixed(2)}`;
}

/** Whether ``heard`` covers the item's whole range (within `HEARD_SLACK_S`). */
export function isHeard(item: QueueItem, heard: readonly HeardRange[]): boolean {
  const mine = heard.filter((h) => h.episodeId === item.episodeId);
  if (mine.some((h) => h.start === null && h.end === null)) return true;
  if (item.end === null) return false; // without the episode's length, a range cannot cover it
  const ranges = mine
    .map((h) => [h.start ?? 0, h.end ?? Number.POSITIVE_INFINITY] as const)
    .sort((a, b) => a[0] - b[0]);
  // The slack never exceeds a tenth of the item, so a short item is not "heard" by its slack.
  const slack = Math.min(HEARD_SLACK_S, (item.end - item.start) / 10);
  let covered = item.start;
  for (const [start, end] of ranges) {
    if (start > covered + slack) break;
    covered = Math.max(covered, end);
    if (covered >= item.end - slack) return true;
  }
  return false;
}

/** The first item at or after ``from`` not yet heard; `items.length` when there is none. */
export function firstUnheard(
  items: readonly QueueItem[],
  from: number,
  heard: readonly HeardRange[],
): number {
  for (let i = Math.max(0, from); i < items.length; i++) {
    if (!isHeard(items[i]!, heard)) return i;
  }
  return items.length;
}

function at(items: QueueItem[], index: number): QueueState {
  const item = items[index];
  return { items, index, position: item ? item.start : 0 };
}

/** A new queue, starting at the first unheard item (or the first, when not skipping). */
export function load(
  items: QueueItem[],
  heard: readonly HeardRange[],
  options: { skipHeard: boolean; startAt?: number } = { skipHeard: true },
): QueueState {
  const from = options.startAt ?? 0;
  const index = options.skipHeard ? firstUnheard(items, from, heard) : Math.min(from, items.length);
  return at(items, index);
}

export function current(state: QueueState): QueueItem | null {
  return state.items[state.index] ?? null;
}

export function finished(state: QueueState): boolean {
  return state.index >= state.items.length;
}

export interface Tick {
  state: QueueState;
  /** The item that reached its end with this tick (to record as heard), if any. */
  ended: QueueItem | null;
}

/**
 * The audio reported ``time`` (seconds into the current episode). At the current item's end,
 * the queue moves on to the next unheard item, whose start is the new position: the caller
 * seeks there (and loads its audio when it is another episode).
 */
export function tick(state: QueueState, time: number, heard: readonly HeardRange[]): Tick {
  const item = current(state);
  if (!item) return { state, ended: null };
  if (item.end !== null && time >= item.end - END_TOLERANCE_S) {
    const nowHeard = [...heard, { episodeId: item.episodeId, start: item.start, end: item.end }];
    return { state: at(state.items, firstUnheard(state.items, state.index + 1, nowHeard)), ended: item };
  }
  return { state: { ...state, position: time }, ended: null };
}

/** The audio ended (the episode's own end): the current item is over, whatever its range. */
export function episodeEnded(state: QueueState, heard: readonly HeardRange[]): Tick {
  const item = current(state);
  if (!item) return { state, ended: null };
  const nowHeard = [...heard, { episodeId: item.episodeId, start: item.start, end: item.end }];
  return { state: at(state.items, firstUnheard(state.items, state.index + 1, nowHeard)), ended: item };
}

/** "Next": the next item not heard. */
export function next(state: QueueState, heard: readonly HeardRange[]): QueueState {
  if (finished(state)) return state;
  return at(state.items, firstUnheard(state.items, state.index + 1, heard));
}

/** "Previous": back to the current item's start, or (near its start) the item before. */
export function previous(state: QueueState): QueueState {
  const item = current(state);
  if (item && state.position - item.start > RESTART_AFTER_S) return at(state.items, state.index);
  return at(state.items, Math.max(0, Math.min(state.index, state.items.length) - 1));
}

/** Play exactly this item (the listener chose it: heard or not). */
export function jumpTo(state: QueueState, index: number): QueueState {
  if (index < 0 || index >= state.items.length) return state;
  return at(state.items, index);
}

/** A seek the listener asked for, kept inside the current episode's playable part. */
export function seek(state: QueueState, time: number, duration?: number): QueueState {
  const upper = duration !== undefined && Number.isFinite(duration) ? duration : Number.POSITIVE_INFINITY;
  return { ...state, position: Math.min(Math.max(0, time), upper) };
}

/** Seconds left to play: the rest of the current item and every later one with an end. */
export function remaining(state: QueueState): number | null {
  const item = current(state);
  if (!item) return 0;
  let total = 0;
  for (let i = state.index; i < state.items.length; i++) {
    const it = state.items[i]!;
    if (it.end === null) return null;
    total += it.end - (i === state.index ? Math.max(it.start, state.position) : it.start);
  }
  return Math.max(0, total);
}

/** Moves ``items[from]`` to ``to`` (a reorder), returning a new array. */
export function move<T>(items: readonly T[], from: number, to: number): T[] {
  const copy = [...items];
  if (from < 0 || from >= copy.length || to < 0 || to >= copy.length) return copy;
  const [moved] = copy.splice(from, 1);
  copy.splice(to, 0, moved as T);
  return copy;
}

const VERSION = 1;

export function serialize(state: QueueState): string {
  return JSON.stringify({ v: VERSION, ...state });
}

function validItem(value: unknown): value is QueueItem {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.key === "string" &&
    typeof v.episodeId === "string" &&
    typeof v.title === "string" &&
    typeof v.podcastTitle === "string" &&
    typeof v.audioUrl === "string" &&
    typeof v.start === "number" &&
    Number.isFinite(v.start) &&
    (v.end === null || (typeof v.end === "number" && Number.isFinite(v.end)))
  );
}

/** A saved queue, or null when ``raw`` is missing, from another version or malformed. */
export function restore(raw: string | null): QueueState | null {
  if (!raw) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const p = parsed as Record<string, unknown>;
  if (p.v !== VERSION || !Array.isArray(p.items) || !p.items.every(validItem)) return null;
  const items = p.items as QueueItem[];
  const index = typeof p.index === "number" && Number.isInteger(p.index) ? p.index : 0;
  const clamped = Math.min(Math.max(0, index), items.length);
  const item = items[clamped];
  const position =
    typeof p.position === "number" && Number.isFinite(p.position) && p.position >= 0
      ? p.position
      : (item?.start ?? 0);
  return { items, index: clamped, position: item ? position : 0 };
}
