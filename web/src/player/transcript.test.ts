import { describe, expect, it } from "vitest";

import { indexAt, matches, parseTranscript, quote, sentenceAt, wordAt } from "./transcript";

const doc = {
  format: "tellmemore.transcript/1",
  segments: [
    { start_s: 0, end_s: 4, text: " Hello and welcome. ", speaker: null, words: [[0, 0.5, "Hello", 0.9], [0.6, 1, "and", 0.9], [1.1, 1.8, "welcome.", 0.9]] },
    { start_s: 5, end_s: 9, text: "Today: sourdough starters.", words: [] },
    { start_s: 9, end_s: 12, text: "Starters need  flour", words: "bad" },
    { start_s: "x", end_s: 1, text: "dropped" },
  ],
};

describe("transcript", () => {
  const s = parseTranscript(doc);

  it("reads segments and word timings, dropping malformed ones", () => {
    expect(s).toHaveLength(3);
    expect(s[0]!.text).toBe("Hello and welcome.");
    expect(s[0]!.words[2]).toEqual({ start: 1.1, end: 1.8, text: "welcome." });
    expect(s[2]!.words).toEqual([]);
    expect(parseTranscript(null)).toEqual([]);
  });

  it("finds the sentence and word at a time", () => {
    expect(sentenceAt(s, -1)).toBe(-1);
    expect(sentenceAt(s, 0)).toBe(0);
    expect(sentenceAt(s, 4.5)).toBe(0); // a pause keeps the last sentence
    expect(sentenceAt(s, 9)).toBe(2);
    expect(sentenceAt(s, 100)).toBe(2);
    expect(wordAt(s[0], 0.7)).toBe(1);
    expect(wordAt(s[0], 3)).toBe(-1);
    expect(wordAt(s[1], 6)).toBe(-1);
    expect(indexAt([], 3)).toBe(-1);
  });

  it("searches inside, ignoring case and spacing", () => {
    expect(matches(s, "starters")).toEqual([1, 2]);
    expect(matches(s, "need flour")).toEqual([2]);
    expect(matches(s, "  ")).toEqual([]);
  });

  it("quotes with a link", () => {
    expect(quote(" Hi ", "Show", "Ep 1", "https://x/episodes/e?t=5")).toBe("“Hi” — Show, Ep 1\nhttps://x/episodes/e?t=5");
  });
});
