/** Small formatting helpers shared by the pages. */

/** 75.4 -> "1:15", 3725 -> "1:02:05". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function date(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

/** Splits ``text`` at the character ranges ``marks`` into plain and marked parts. */
export function marked(text: string, marks: ReadonlyArray<ReadonlyArray<number>>): { text: string; mark: boolean }[] {
  const parts: { text: string; mark: boolean }[] = [];
  let at = 0;
  const ranges = marks.filter((m) => m.length >= 2).map((m) => [m[0]!, m[1]!] as const);
  for (const [start, end] of ranges.sort((a, b) => a[0] - b[0])) {
    const s = Math.max(at, Math.min(start, text.length));
    const e = Math.max(s, Math.min(end, text.length));
    if (s > at) parts.push({ text: text.slice(at, s), mark: false });
    if (e > s) parts.push({ text: text.slice(s, e), mark: true });
    at = e;
  }
  if (at < text.length) parts.push({ text: text.slice(at), mark: false });
  return parts;
}

/** The link that opens the player at a second of an episode. */
export function episodeLink(episodeId: string, seconds: number): string {
  return `${window.location.origin}/episodes/${episodeId}?t=${Math.floor(seconds)}`;
}
