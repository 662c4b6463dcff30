import { describe, expect, it } from "vitest";

import {
  current,
  episodeEnded,
  finished,
  firstUnheard,
  isHeard,
  jumpTo,
  load,
  move,
  next,
  previous,
  type QueueItem,
  remaining,
  restore,
  serialize,
  stripFragment,
  tick,
} from "./queue";

function item(key: string, episodeId: string, start: number, end: number | null): QueueItem {
  return { key, episodeId, title: key, podcastTitle: "Show", audioUrl: `https://a/${episodeId}.mp3`, start, end };
}

const A = item("a", "ep1", 10, 40);
const B = item("b", "ep2", 100, 130);
const C = item("c", "ep1", 200, 260);

describe("ranges", () => {
  it("starts at the first item's start", () => {
    const s = load([A, B], [], { skipHeard: true });
    expect(current(s)).toBe(A);
    expect(s.position).toBe(10);
  });

  it("moves on at the range's end, not the episode's", () => {
    let s = load([A, B], [], { skipHeard: true });
    let t = tick(s, 25, []);
    expect(t.ended).toBeNull();
    expect(t.state.position).toBe(25);
    t = tick(t.state, 39.9, []);
    expect(t.ended).toBe(A);
    s = t.state;
    expect(current(s)).toBe(B);
    expect(s.position).toBe(100);
  });

  it("finishes after the last item", () => {
    const t = tick(load([A], [], { skipHeard: true }), 40, []);
    expect(t.ended).toBe(A);
    expect(finished(t.state)).toBe(true);
    expect(current(t.state)).toBeNull();
  });

  it("an open-ended item ends with its episode", () => {
    const open = item("o", "ep3", 5, null);
    let s = load([open, B], [], { skipHeard: true });
    expect(tick(s, 100000, []).ended).toBeNull();
    const t = episodeEnded(s, []);
    expect(t.ended).toBe(open);
    s = t.state;
    expect(current(s)).toBe(B);
  });

  it("strips media fragments", () => {
    expect(stripFragment("https://x/a.mp3#t=10,20")).toBe("https://x/a.mp3");
    expect(stripFragment("https://x/a.mp3")).toBe("https://x/a.mp3");
  });
});

describe("skip heard", () => {
  it("a whole-episode entry covers every range of it", () => {
    expect(isHeard(A, [{ episodeId: "ep1", start: null, end: null }])).toBe(true);
    expect(isHeard(B, [{ episodeId: "ep1", start: null, end: null }])).toBe(false);
  });

  it("ranges that together cover the item count, a gap does not", () => {
    expect(isHeard(A, [{ episodeId: "ep1", start: 0, end: 25 }, { episodeId: "ep1", start: 24, end: 41 }])).toBe(true);
    expect(isHeard(A, [{ episodeId: "ep1", start: 0, end: 20 }, { episodeId: "ep1", start: 30, end: 41 }])).toBe(false);
    expect(isHeard(A, [{ episodeId: "ep1", start: 10.5, end: 39.5 }])).toBe(true); // within the slack
    expect(isHeard(A, [{ episodeId: "ep2", start: 0, end: 100 }])).toBe(false);
  });

  it("loading skips heard items, unless told not to", () => {
    const heard = [{ episodeId: "ep1", start: 10, end: 40 }];
    expect(current(load([A, B, C], heard, { skipHeard: true }))).toBe(B);
    expect(current(load([A, B, C], heard, { skipHeard: false }))).toBe(A);
  });

  it("moving on skips heard items too", () => {
    const heard = [{ episodeId: "ep2", start: 100, end: 130 }];
    const t = tick(load([A, B, C], heard, { skipHeard: true }), 40, heard);
    expect(current(t.state)).toBe(C);
    expect(t.state.position).toBe(200);
    expect(current(next(load([A, B, C], heard, { skipHeard: true }), heard))).toBe(C);
  });

  it("everything heard means finished", () => {
    const heard = [{ episodeId: "ep1", start: null, end: null }, { episodeId: "ep2", start: null, end: null }];
    expect(finished(load([A, B, C], heard, { skipHeard: true }))).toBe(true);
    expect(firstUnheard([A, B, C], 0, heard)).toBe(3);
  });

  it("a short item is not heard by the slack alone", () => {
    const short = item("s", "ep1", 0.5, 1.5);
    expect(isHeard(short, [{ episodeId: "ep1", start: 2, end: 4 }])).toBe(false);
    expect(isHeard(short, [{ episodeId: "ep1", start: 0.5, end: 1.5 }])).toBe(true);
    expect(isHeard(short, [])).toBe(false);
    const t = tick(load([A, B, short], [], { skipHeard: true }), 40, []);
    expect(current(next(t.state, [{ episodeId: "ep1", start: 10, end: 40 }]))).toBe(short);
  });

  it("an open-ended item is never covered by ranges alone", () => {
    expect(isHeard(item("o", "ep1", 0, null), [{ episodeId: "ep1", start: 0, end: 99999 }])).toBe(false);
  });
});

describe("navigation", () => {
  it("previous restarts the item after a few seconds, else goes back one", () => {
    let s = tick(load([A, B], [], { skipHeard: true }), 40, []).state; // at B's start
    s = tick(s, 110, []).state;
    s = previous(s);
    expect(current(s)).toBe(B);
    expect(s.position).toBe(100);
    s = previous(s);
    expect(current(s)).toBe(A);
    expect(previous(s).index).toBe(0);
  });

  it("jumpTo plays the chosen item even when heard", () => {
    const s = jumpTo(load([A, B], [], { skipHeard: true }), 1);
    expect(current(s)).toBe(B);
    expect(jumpTo(s, 5)).toBe(s);
  });

  it("previous from the finished state returns to the last item", () => {
    const done = tick(load([A], [], { skipHeard: true }), 40, []).state;
    expect(current(previous(done))).toBe(A);
  });

  it("remaining counts the rest of the current item and the later ones", () => {
    const s = tick(load([A, B], [], { skipHeard: true }), 20, []).state;
    expect(remaining(s)).toBe(20 + 30);
    expect(remaining(load([item("o", "x", 0, null)], [], { skipHeard: true }))).toBeNull();
  });

  it("move reorders", () => {
    expect(move(["a", "b", "c"], 0, 2)).toEqual(["b", "c", "a"]);
    expect(move(["a", "b", "c"], 2, 0)).toEqual(["c", "a", "b"]);
    expect(move(["a", "b"], 0, 5)).toEqual(["a", "b"]);
  });
});

describe("resume", () => {
  it("round-trips the queue and place", () => {
    const s = tick(load([A, B], [], { skipHeard: true }), 33.5, []).state;
    const back = restore(serialize(s));
    expect(back).toEqual(s);
  });

  it("refuses what is not a saved queue", () => {
    expect(restore(null)).toBeNull();
    expect(restore("not json")).toBeNull();
    expect(restore(JSON.stringify({ v: 99, items: [], index: 0, position: 0 }))).toBeNull();
    expect(restore(JSON.stringify({ v: 1, items: [{ key: 1 }], index: 0, position: 0 }))).toBeNull();
  });

  it("clamps a bad index and position", () => {
    const raw = JSON.stringify({ v: 1, items: [A], index: 7, position: -3 });
    const back = restore(raw)!;
    expect(finished(back)).toBe(true);
    const raw2 = JSON.stringify({ v: 1, items: [A], index: 0, position: "x" });
    expect(restore(raw2)!.position).toBe(10);
  });
});
