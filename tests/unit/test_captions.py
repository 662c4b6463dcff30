"""Transcripts out: the JSON document round trip and its refusals, and WebVTT/SRT captions that
our own publisher-transcript parser reads back to the same text and times."""

from __future__ import annotations

import html
import itertools
import json
import random
import re
from typing import Any

import pytest

from models.captions import FORMAT, LINE_CHARS, MAX_CUE_S, to_srt, to_vtt
from models.captions import transcript_from_dict as from_dict
from models.captions import transcript_to_dict as to_dict
from models.errors import TranscriptFormatError
from models.transcripts import parse_transcript
from models.types import ModelRef, Transcript, TranscriptSegment, Word

ASR = ModelRef(kind="asr", name="whisper-tiny.en", version="sha256:abc")
STAMP = re.compile(r"^(\d{2,}):(\d{2}):(\d{2})[.,](\d{3}) --> (\d{2,}):(\d{2}):(\d{2})[.,](\d{3})$")
LONG = (
    "So today we are going to talk about the deep sea, which is the largest habitat on Earth. "
    "Most of it has never been seen by a human being, and that is remarkable."
)


def transcript(*segments: TranscriptSegment, language: str | None = "en") -> Transcript:
    end = max((s.end_s for s in segments), default=0.0)
    return Transcript(segments=segments, language=language, duration_s=end, model=ASR)


def timed_words(text: str, start: float, step: float, *, lead: str = " ") -> tuple[Word, ...]:
    """Whisper-style words: one every ``step`` seconds, each lasting 75% of it."""
    return tuple(
        Word(start + i * step, start + i * step + step * 0.75, lead + token, 0.5 + i % 5 / 10)
        for i, token in enumerate(text.split())
    )


def cues(captions: str) -> list[tuple[float, float, list[str]]]:
    """(start, end, text lines) of each cue, read with a regex independent of the parser."""
    found = []
    for block in filter(None, captions.strip().split("\n\n")):
        lines = block.split("\n")
        at = next(i for i, line in enumerate(lines) if "-->" in line)
        g = [int(x) for x in STAMP.fullmatch(lines[at]).groups()]  # type: ignore[union-attr]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        found.append((start, end, lines[at + 1 :]))
    return found


def vtt_cues(captions: str) -> list[tuple[float, float, list[str]]]:
    assert captions == "WEBVTT\n" or captions.startswith("WEBVTT\n\n")
    return cues(captions.removeprefix("WEBVTT\n"))


# --- the JSON document ------------------------------------------------------------------------

FULL = transcript(
    TranscriptSegment(
        0.0,
        2.48,
        " Hello, world.",
        words=(Word(0.0, 0.52, " Hello,", 0.9871), Word(0.6, 2.48, " world.", None)),
        speaker="Jane Doe",
    ),
    TranscriptSegment(2.5, 3.1000000000000005, "Plain.", speaker=None),
    TranscriptSegment(3.1, 3.1, ""),
    language=None,
)


def test_document_shape_is_pinned() -> None:
    assert to_dict(FULL) == {
        "format": "tellmemore.transcript/1",
        "language": None,
        "duration_s": 3.1000000000000005,
        "model": {
            "kind": "asr",
            "name": "whisper-tiny.en",
            "version": "sha256:abc",
            "id": "asr:whisper-tiny.en@sha256:abc",
        },
        "segments": [
            {
                "start_s": 0.0,
                "end_s": 2.48,
                "text": " Hello, world.",
                "speaker": "Jane Doe",
                "words": [[0.0, 0.52, " Hello,", 0.9871], [0.6, 2.48, " world.", None]],
            },
            {"start_s": 2.5, "end_s": 3.1000000000000005, "text": "Plain.", "speaker": None,
             "words": []},
            {"start_s": 3.1, "end_s": 3.1, "text": "", "speaker": None, "words": []},
        ],
    }  # fmt: skip


@pytest.mark.parametrize("t", [FULL, transcript(), transcript(language="de")])
def test_document_round_trips_exactly_through_json(t: Transcript) -> None:
    assert from_dict(to_dict(t)) == t
    assert from_dict(json.loads(json.dumps(to_dict(t)))) == t


def test_document_accepts_json_integers_for_times() -> None:
    doc = to_dict(transcript(TranscriptSegment(1.0, 2.0, "Hi", words=(Word(1.0, 2.0, "Hi"),))))
    doc = json.loads(json.dumps(doc).replace(".0", ""))
    assert doc["segments"][0]["start_s"] == 1 and isinstance(doc["segments"][0]["start_s"], int)
    t = from_dict(doc)
    assert t.segments[0].start_s == 1.0 and isinstance(t.segments[0].start_s, float)
    assert isinstance(t.segments[0].words[0].end_s, float)


def _broken(path: str, value: Any) -> dict[str, Any]:
    doc = to_dict(FULL)
    *parents, last = path.split(".")
    target: Any = doc
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is KeyError:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("model", KeyError, "document has no 'model'"),
        ("model", "asr", "model must be an object"),
        ("model.kind", "robot", "model.kind must be one of asr, publisher"),
        ("model.name", 3, "model.name must be a string"),
        ("model.version", KeyError, "model has no 'version'"),
        ("model.id", "asr:other@1", "does not match"),
        ("language", 7, "language must be a string"),
        ("language", KeyError, "document has no 'language'"),
        ("duration_s", "12", "duration_s must be a finite number"),
        ("duration_s", float("nan"), "duration_s must be a finite number"),
        ("duration_s", True, "duration_s must be a finite number"),
        ("segments", {"0": {}}, "segments must be a list"),
        ("segments.1", ["Plain."], r"segments\[1\] must be an object"),
        ("segments.1.start_s", None, r"segments\[1\].start_s must be a finite number"),
        ("segments.1.end_s", float("inf"), r"segments\[1\].end_s must be a finite number"),
        ("segments.1.text", None, r"segments\[1\].text must be a string"),
        ("segments.1.speaker", 1, r"segments\[1\].speaker must be a string"),
        ("segments.1.words", KeyError, r"segments\[1\] has no 'words'"),
        ("segments.1.words", "", r"segments\[1\].words must be a list"),
        ("segments.0.words.1", [0.6, 2.48, " world."], r"segments\[0\].words\[1\] must be \["),
        ("segments.0.words.1", {"start_s": 0.6}, r"segments\[0\].words\[1\] must be \["),
        ("segments.0.words.0.3", "high", r"segments\[0\].words\[0\]\[3\] must be a finite"),
        ("segments.0.words.0.2", None, r"segments\[0\].words\[0\]\[2\] must be a string"),
        ("segments.0.words.0.0", False, r"segments\[0\].words\[0\]\[0\] must be a finite"),
    ],
)
def test_invalid_documents_name_the_bad_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(TranscriptFormatError, match=message) as caught:
        from_dict(_broken(path, value))
    assert caught.value.code == "transcript_malformed"
    assert str(caught.value).startswith("Invalid transcript document: ")


@pytest.mark.parametrize("fmt", [KeyError, "tellmemore.transcript/2", None, 1])
def test_other_formats_are_refused_as_unknown(fmt: Any) -> None:
    with pytest.raises(TranscriptFormatError, match=r"expected 'tellmemore\.transcript/1'") as e:
        from_dict(_broken("format", fmt))
    assert e.value.code == "transcript_unknown_format"


@pytest.mark.parametrize("doc", [[], "{}", None, 3])
def test_a_document_must_be_an_object(doc: Any) -> None:
    with pytest.raises(TranscriptFormatError, match="must be an object") as e:
        from_dict(doc)
    assert e.value.code == "transcript_malformed"


def test_format_constant_matches_document() -> None:
    assert to_dict(FULL)["format"] == FORMAT


# --- captions: exact output -------------------------------------------------------------------

SHORT = transcript(
    TranscriptSegment(0.0, 2.5, " Welcome back to Tell Me More.", speaker="Jane Doe"),
    TranscriptSegment(2.5, 2.5, "   "),
    TranscriptSegment(3.0, 5.25, "Thanks, Jane!"),
)


def test_vtt_output() -> None:
    assert to_vtt(SHORT) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:02.500\n"
        "<v Jane Doe>Welcome back to Tell Me More.\n"
        "\n"
        "00:00:03.000 --> 00:00:05.250\n"
        "Thanks, Jane!\n"
    )


def test_srt_output() -> None:
    assert to_srt(SHORT) == (
        "1\n"
        "00:00:00,000 --> 00:00:02,500\n"
        "Welcome back to Tell Me More.\n"
        "\n"
        "2\n"
        "00:00:03,000 --> 00:00:05,250\n"
        "Thanks, Jane!\n"
    )


def test_hours_beyond_one_and_beyond_ninety_nine() -> None:
    t = transcript(
        TranscriptSegment(3725.5, 3727.25, "An hour in."),
        TranscriptSegment(360000.0, 360001.0, "A hundred hours in."),
    )
    assert [c[:2] for c in vtt_cues(to_vtt(t))] == [(3725.5, 3727.25), (360000.0, 360001.0)]
    assert "01:02:05.500 --> 01:02:07.250" in to_vtt(t)
    assert "100:00:00,000 --> 100:00:01,000" in to_srt(t)
    parsed = parse_transcript(to_srt(t).encode(), "application/x-subrip")
    assert [(s.start_s, s.end_s) for s in parsed.segments] == [(3725.5, 3727.25), (360000, 360001)]


def test_vtt_escapes_markup_in_text_and_speaker() -> None:
    t = transcript(TranscriptSegment(1.0, 2.0, "Tom & Jerry <3 --> <b>", speaker="Q&A <host>"))
    vtt = to_vtt(t)
    assert "<v Q&amp;A &lt;host&gt;>Tom &amp; Jerry &lt;3 --&gt; &lt;b&gt;\n" in vtt
    assert vtt.count("-->") == 1
    assert parse_transcript(vtt.encode(), "text/vtt").text == "Tom & Jerry <3 --> <b>"


def test_srt_keeps_text_but_defuses_timing_arrows() -> None:
    srt = to_srt(transcript(TranscriptSegment(1.0, 2.0, "Fish & chips --> dinner")))
    assert srt.endswith("\nFish & chips -> dinner\n")
    assert parse_transcript(srt.encode(), "text/srt").text == "Fish & chips -> dinner"


def test_speaker_whitespace_is_normalised_and_blank_speakers_get_no_tag() -> None:
    t = transcript(
        TranscriptSegment(0.0, 1.0, "One.", speaker="  Jane\n Doe "),
        TranscriptSegment(1.0, 2.0, "Two.", speaker="  "),
    )
    assert [c[2] for c in vtt_cues(to_vtt(t))] == [["<v Jane Doe>One."], ["Two."]]
    parsed = parse_transcript(to_vtt(t).encode(), "text/vtt")
    assert [s.speaker for s in parsed.segments] == ["Jane Doe", None]


def test_empty_transcripts() -> None:
    for t in (transcript(), transcript(TranscriptSegment(0.0, 1.0, " \n "))):
        assert to_vtt(t) == "WEBVTT\n"
        assert to_srt(t) == ""
        with pytest.raises(TranscriptFormatError) as e:
            parse_transcript(to_vtt(t).encode(), "text/vtt")
        assert e.value.code == "transcript_empty"


# --- captions: round trips through the publisher parser -----------------------------------


def round_trip_cases() -> list[Transcript]:
    return [
        SHORT,
        FULL,
        transcript(
            TranscriptSegment(0.0, 4.0, "Hello there.", speaker="Jane"),
            TranscriptSegment(4.0, 6.5, "Hi Jane, how are you doing today?", speaker="Sam Lee"),
            TranscriptSegment(6.9, 7.2, "Good."),
            TranscriptSegment(3599.9996, 3601.0004, "Across the hour."),
        ),
    ]


@pytest.mark.parametrize("t", round_trip_cases())
@pytest.mark.parametrize(
    ("render", "mime"), [(to_vtt, "text/vtt"), (to_srt, "application/x-subrip")]
)
def test_short_segments_round_trip_through_the_parser(
    t: Transcript, render: Any, mime: str
) -> None:
    parsed = parse_transcript(render(t).encode(), mime)
    kept = [s for s in t.segments if s.text.strip()]
    assert parsed.text == t.text
    assert len(parsed.segments) == len(kept)
    for ours, theirs in zip(kept, parsed.segments, strict=True):
        assert theirs.text == " ".join(ours.text.split())
        assert theirs.start_s == pytest.approx(ours.start_s, abs=0.001)
        assert theirs.end_s == pytest.approx(ours.end_s, abs=0.001)
        if mime == "text/vtt":
            assert theirs.speaker == ours.speaker


# --- captions: splitting long segments ----------------------------------------------------


def assert_readable(captions: str, *, vtt: bool) -> list[tuple[float, float, list[str]]]:
    found = vtt_cues(captions) if vtt else cues(captions)
    previous_end = 0.0
    for start, end, lines in found:
        assert previous_end <= start < end
        assert end - start <= MAX_CUE_S + 0.001
        assert 1 <= len(lines) <= 2
        shown = [html.unescape(re.sub(r"^<v [^>]*>", "", line)) for line in lines]
        assert all(len(line) <= LINE_CHARS for line in shown)
        previous_end = end
    return found


def test_long_segment_is_cut_at_word_times_and_punctuation() -> None:
    words = timed_words(LONG, 10.0, 0.4)
    seg = TranscriptSegment(10.0, words[-1].end_s, LONG, words=words, speaker="Jane Doe")
    vtt = to_vtt(transcript(seg))
    found = assert_readable(vtt, vtt=True)
    assert [lines for _, _, lines in found] == [
        ["<v Jane Doe>So today we are going to", "talk about the deep sea,"],
        ["<v Jane Doe>which is the largest habitat on Earth."],
        ["<v Jane Doe>Most of it has never been seen by a", "human being, and that is remarkable."],
    ]
    starts = {round(w.start_s, 3) for w in words}
    ends = {round(w.end_s, 3) for w in words}
    assert found[0][0] == 10.0 and found[-1][1] == round(words[-1].end_s, 3)
    assert all(start in starts for start, _, _ in found[1:])
    assert all(end in ends for _, end, _ in found[:-1])
    parsed = parse_transcript(vtt.encode(), "text/vtt")
    assert parsed.text == LONG
    assert {s.speaker for s in parsed.segments} == {"Jane Doe"}
    for (start, end, _), seg_back in zip(found, parsed.segments, strict=True):
        assert (seg_back.start_s, seg_back.end_s) == (start, end)


def test_bare_words_are_matched_too() -> None:
    words = timed_words(LONG, 0.0, 0.4, lead="")
    with_times = to_srt(transcript(TranscriptSegment(0.0, words[-1].end_s, LONG, words=words)))
    proportional = to_srt(transcript(TranscriptSegment(0.0, words[-1].end_s, LONG)))
    word_ends = {round(w.end_s, 3) for w in words}
    assert all(end in word_ends for _, end, _ in cues(with_times))
    assert with_times != proportional


def test_words_that_do_not_spell_the_text_fall_back_to_characters() -> None:
    words = timed_words("completely different words", 0.0, 5.0)
    with_words = TranscriptSegment(0.0, 20.0, LONG, words=words)
    assert to_vtt(transcript(with_words)) == to_vtt(transcript(TranscriptSegment(0.0, 20.0, LONG)))


def test_long_segment_without_words_is_timed_by_characters() -> None:
    text = " ".join(["word"] * 40)  # 199 characters over 20 s: ~0.1 s a character
    srt = to_srt(transcript(TranscriptSegment(100.0, 120.0, text)))
    found = assert_readable(srt, vtt=False)
    assert len(found) >= 3
    assert found[0][0] == 100.0 and found[-1][1] == 120.0
    for (_, end, _), (start, _, _) in itertools.pairwise(found):
        assert start == end  # back to back: no flicker between the pieces of one segment
    for start, end, lines in found:
        chars = len(" ".join(lines)) + 1
        assert end - start == pytest.approx(20.0 * chars / 200, abs=0.002)
    parsed = parse_transcript(srt.encode(), "text/srt")
    assert parsed.text == text


def test_short_but_slow_segment_is_cut_by_time() -> None:
    seg = TranscriptSegment(0.0, 20.0, "Well. Um. Let me think about that.")
    found = assert_readable(to_vtt(transcript(seg)), vtt=True)
    assert [lines for _, _, lines in found] == [
        ["Well. Um."],
        ["Let me"],
        ["think"],
        ["about that."],
    ]


def test_a_pause_in_the_words_is_respected_by_the_time_limit() -> None:
    words = (*timed_words("One two three", 0.0, 0.3), *timed_words("four five six", 9.0, 0.3))
    seg = TranscriptSegment(0.0, words[-1].end_s, "One two three four five six", words=words)
    found = assert_readable(to_vtt(transcript(seg)), vtt=True)
    assert [lines for _, _, lines in found] == [["One two three"], ["four five six"]]


def test_two_line_cue_is_balanced() -> None:
    text = "This sentence is a little too long for one caption line."  # 57 characters
    found = vtt_cues(to_vtt(transcript(TranscriptSegment(0.0, 4.0, text))))
    assert found == [(0.0, 4.0, ["This sentence is a little too", "long for one caption line."])]


def test_a_word_longer_than_a_line_is_kept_whole() -> None:
    giant = "Pneumonoultramicroscopicsilicovolcanoconiosis-and-friends-forever"
    found = vtt_cues(to_vtt(transcript(TranscriptSegment(0.0, 3.0, f"Say {giant} twice."))))
    assert [lines for _, _, lines in found] == [["Say"], [giant], ["twice."]]


# --- captions: times ------------------------------------------------------------------------


def test_times_never_go_backwards_and_cues_never_vanish() -> None:
    t = transcript(
        TranscriptSegment(5.0, 6.0, "Unsorted."),
        TranscriptSegment(-1.0, 2.0, "Negative start."),
        TranscriptSegment(1.5, 3.0, "Overlaps the one before."),
        TranscriptSegment(3.0, 3.0, "Zero length."),
        TranscriptSegment(3.0, 2.0, "Ends before it starts."),
        TranscriptSegment(4.0, 4.0004, "Under a millisecond."),
    )
    for captions, vtt in ((to_vtt(t), True), (to_srt(t), False)):
        found = vtt_cues(captions) if vtt else cues(captions)
        assert [c[:2] for c in found] == [
            (0.0, 2.0),
            (2.0, 3.0),
            (3.0, 3.001),
            (3.001, 3.002),
            (4.0, 4.001),
            (5.0, 6.0),
        ]


@pytest.mark.parametrize("seed", range(25))
def test_random_transcripts_stay_readable_and_round_trip(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 -- reproducible test data, not secrets
    vocabulary = ["a", "I", "the", "ocean,", "deep.", "sea?", "whales!", "&", "<tag>", "42"]
    vocabulary += ["extraordinarily", "mapped;", "we"]
    segments, at = [], rng.uniform(0, 5000)
    for _ in range(rng.randint(1, 12)):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 60)))
        step = rng.uniform(0.05, 0.8)
        words = timed_words(text, at, step) if rng.random() < 0.5 else ()
        end = at + max(len(text.split()), 1) * step
        segments.append(
            TranscriptSegment(at, end, text, words, rng.choice([None, "Jane", "Sam Lee"]))
        )
        at = end + rng.uniform(0, 3)
    t = transcript(*segments)
    assert from_dict(json.loads(json.dumps(to_dict(t)))) == t
    vtt = to_vtt(t)
    found = assert_readable(vtt, vtt=True)
    if not t.text:
        assert found == []
        return
    parsed = parse_transcript(vtt.encode(), "text/vtt")
    assert parsed.text == t.text
    spoken = [s for s in segments if s.text.strip()]
    assert parsed.segments[0].start_s == pytest.approx(spoken[0].start_s, abs=0.001)
    assert parsed.segments[-1].end_s == pytest.approx(spoken[-1].end_s, abs=0.001)
    assert {s.speaker for s in parsed.segments} == {s.speaker for s in spoken}
