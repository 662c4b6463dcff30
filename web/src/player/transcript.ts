/** The transcript document (GET /episodes/{id}/transcript, JSON) and lookups by time. */

export interface Word {
  start: number;
  end: number;
  text: string;
}

export interface Sentence {
  start: number;
  end: number;
  text: string;
  speaker: string | null;
  words: Word[];
}

/** The stored document's segments, each with its word timings where the recogniser gave them. */
export function parseTranscript(doc: unknown): Sentence[] {
  const segments = (doc as { segments?: unknown } | null)?.segments;
  if (!Array.isArray(segments)) return [];
  const out: Sentence[] = [];
  for (const s of segments) {
    if (typeof s !== "object" || s === null) continue;
    const seg = s as Record<string, unknown>;
    if (typeof seg.start_s !== "number" || typeof seg.end_s !== "number" || typeof seg.text !== "string") continue;
    const words: Word[] = [];
    if (Array.isArray(seg.words)) {
      for (const w of seg.words) {
        if (Array.isArray(w) && typeof w[0] === "number" && typeof w[1] === "number" && typeof w[2] === "string") {
          words.push({ start: w[0], end: w[1], text: w[2] });
        }
      }
    }
    out.push({
      start: seg.start_s,
      end: seg.end_s,
      text: seg.text.trim(),
      speaker: typeof seg.speaker === "string" ? seg.speaker : null,
      words,
    });
  }
  return out;
}

/** The index of the last item starting at or before ``time`` (-1 before the first). */
export function indexAt(items: readonly { start: number }[], time: number): number {
  let lo = 0;
  let hi = items.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid]!.start <= time) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** The sentence playing at ``time``: the one it falls in, or the last one begun (in a pause). */
export function sentenceAt(sentences: readonly Sentence[], time: number): number {
  return indexAt(sentences, time);
}

/** The word of ``sentence`` being spoken at ``time`` (-1 between words). */
export function wordAt(sentence: Sentence | undefined, time: number): number {
  if (!sentence || !sentence.words.length) return -1;
  const i = indexAt(sentence.words, time);
  return i >= 0 && time <= sentence.words[i]!.end + 0.15 ? i : -1;
}

/** The indices of sentences containing ``query`` (case-insensitive, spaces collapsed). */
export function matches(sentences: readonly Sentence[], query: string): number[] {
  const q = query.trim().replace(/\s+/g, " ").toLowerCase();
  if (!q) return [];
  const found: number[] = [];
  sentences.forEach((s, i) => {
    if (s.text.replace(/\s+/g, " ").toLowerCase().includes(q)) found.push(i);
  });
  return found;
}

/** A quote to share: the words, who said them where, and a link to that second. */
export function quote(text: string, podcast: string, episode: string, link: string): string {
  return `“${text.trim()}” — ${podcast}, ${episode}\n${link}`;
}
