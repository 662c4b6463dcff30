import { describe, expect, it } from "vitest";

import { clock, marked } from "./format";

describe("format", () => {
  it("clock", () => {
    expect(clock(75.4)).toBe("1:15");
    expect(clock(3725)).toBe("1:02:05");
    expect(clock(-3)).toBe("0:00");
  });

  it("marked splits at the ranges, whatever their order or bounds", () => {
    expect(marked("hello big world", [[6, 9]])).toEqual([
      { text: "hello ", mark: false },
      { text: "big", mark: true },
      { text: " world", mark: false },
    ]);
    expect(marked("abc", [[2, 9], [0, 1]])).toEqual([
      { text: "a", mark: true },
      { text: "b", mark: false },
      { text: "c", mark: true },
    ]);
    expect(marked("abc", [])).toEqual([{ text: "abc", mark: false }]);
  });
});
