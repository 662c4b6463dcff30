"""Retrieval passages: bounds, whole sentences, timing sources, determinism and untimed text."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise

import pytest

from models.segmenter import MAX_CHARS, TARGET_CHARS, segment_transcript
from models.transcripts import parse_transcript
from models.types import ModelRef, RetrievalSegment, Transcript, TranscriptSegment, Word

ASR = ModelRef(kind="asr", name="whisper-tiny.en", version="abc123")
SENTENCE_END = re.compile("[.?!\u2026][\"')\\]\u201d\u2019]*$")
TOPICS = ["tides", "whales", "sonar", "coral", "trenches", "plankton", "storms", "currents"]


def _sentences(count: int) -> list[str]:
    """Varied, realistic sentences, some with abbreviations and decimals inside."""
    forms = [
        "We talked about {t} for a while.",
        "Dr. Rivera thinks {t} matter more than we assume, e.g. near the coast.",
        "Why do {t} change so quickly?",
        "It costs 3.5 million dollars to study {t} properly!",
        "Mr. Okafor said the U.S. team measured {t} vs. last year's numbers.",
        "And then, honestly, nobody expected the {t} to behave like that at all.",
    ]
    return [forms[i % len(forms)].format(t=TOPICS[i % len(TOPICS)]) for i in range(count)]


def _segment_timed(sentences: list[str], *, seconds: float | None = None) -> Transcript:
    """One segment per sentence; by default a sentence lasts 0.08 s per character."""
    segments, at = [], 0.0
    for text in sentences:
        length = seconds if seconds is not None else 0.08 * len(text)
        segments.append(TranscriptSegment(at, at + length, text))
        at += length + 0.25
    return Transcript(tuple(segments), "en", at, ASR)


def _word_timed(sentences: list[str], *, per_segment: int = 7) -> Transcript:
    """Whisper-like: segments of a few words each, cutting across sentences, with word times."""
    words, at = [], 0.0
    for token in " ".join(sentences).split():
        words.append(Word(at, at + 0.3, " " + token, 0.9))
        at += 0.4
    segments = [
        TranscriptSegment(
            chunk[0].start_s,
            chunk[-1].end_s,
            "".join(w.text for w in chunk),
            words=tuple(chunk),
        )
        for chunk in (words[i : i + per_segment] for i in range(0, len(words), per_segment))
    ]
    return Transcript(tuple(segments), "en", at, ASR)


def _one_per_sentence(transcript: Transcript) -> list[RetrievalSegment]:
    """A tiny target makes every sentence its own passage, exposing the sentence splitter."""
    return segment_transcript(transcript, "ep", min_s=0.001, target_s=0.001, max_s=10_000)


def _assert_covers_in_order(passages: list[RetrievalSegment], sentences: list[str]) -> None:
    """Every passage is a run of consecutive whole sentences; together they are all of them."""
    remaining = list(sentences)
    for passage in passages:
        taken: list[str] = []
        while remaining and len(" ".join(taken)) < len(passage.text):
            taken.append(remaining.pop(0))
        assert " ".join(taken) == passage.text
    assert remaining == []


@pytest.mark.parametrize("make", [_segment_timed, _word_timed])
def test_passages_are_whole_sentences_within_bounds(
    make: Callable[[list[str]], Transcript],
) -> None:
    sentences = _sentences(90)
    transcript = make(sentences)
    passages = segment_transcript(transcript, "ep")
    assert len(passages) > 3
    _assert_covers_in_order(passages, sentences)
    for passage in passages[:-1]:
        assert 75.0 <= passage.end_s - passage.start_s <= 120.0
        assert SENTENCE_END.search(passage.text)
    assert passages[-1].end_s - passages[-1].start_s <= 120.0 * 1.25
    assert passages[0].start_s == 0.0
    assert passages[-1].end_s == pytest.approx(transcript.segments[-1].end_s)
    for before, after in pairwise(passages):
        assert before.start_s <= before.end_s <= after.start_s <= after.end_s


def test_abbreviations_decimals_quotes_and_ellipses() -> None:
    text = (
        "Mr. Smith met Dr. Jones at St. Mark's Church, e.g. for lunch, i.e. a long one. "
        "It cost 3.50 dollars, vs. 4.25 in the U.S. Market prices, etc. Were they fair? "
        '"Absolutely," said J. R. Tolkien. She said "Stop." 42 people laughed! '
        "Then it ended… (Or did it?) the end. not a new sentence. Wait!"
    )
    transcript = Transcript((TranscriptSegment(0.0, 60.0, text),), None, 60.0, ASR)
    assert [p.text for p in _one_per_sentence(transcript)] == [
        "Mr. Smith met Dr. Jones at St. Mark's Church, e.g. for lunch, i.e. a long one.",
        "It cost 3.50 dollars, vs. 4.25 in the U.S. Market prices, etc. Were they fair?",
        '"Absolutely," said J. R. Tolkien.',
        'She said "Stop."',
        "42 people laughed!",
        "Then it ended…",
        "(Or did it?) the end. not a new sentence.",
        "Wait!",
    ]


def test_word_timings_give_exact_sentence_times() -> None:
    words = (
        Word(10.0, 10.4, " Hello"),
        Word(10.5, 11.0, " there."),
        Word(13.0, 13.5, " General"),
        Word(13.6, 14.2, " Kenobi."),
    )
    segment = TranscriptSegment(10.0, 14.2, " Hello there. General Kenobi.", words=words)
    transcript = Transcript((segment,), "en", 14.2, ASR)
    passages = _one_per_sentence(transcript)
    assert [(p.start_s, p.end_s, p.text) for p in passages] == [
        (10.0, 11.0, "Hello there."),
        (13.0, 14.2, "General Kenobi."),
    ]


def test_segment_timings_are_interpolated_by_characters_across_cues() -> None:
    transcript = Transcript(
        (
            TranscriptSegment(0.0, 2.0, "So what I was"),
            TranscriptSegment(2.0, 6.0, "saying is this. Next one."),
        ),
        None,
        6.0,
        ASR,
    )
    first, second = _one_per_sentence(transcript)
    assert first.text == "So what I was saying is this."
    assert second.text == "Next one."
    assert first.start_s == 0.0
    assert first.end_s == pytest.approx(2.0 + 4.0 * 15 / 25, abs=1e-3)
    assert second.start_s == pytest.approx(2.0 + 4.0 * 16 / 25, abs=1e-3)
    assert second.end_s == 6.0


def test_word_and_segment_timed_inputs_cut_the_same_text() -> None:
    sentences = _sentences(40)
    by_words = segment_transcript(_word_timed(sentences), "ep")
    by_segments = segment_transcript(_segment_timed(sentences, seconds=9.0), "ep")
    for passages in (by_words, by_segments):
        _assert_covers_in_order(passages, sentences)
    assert " ".join(p.text for p in by_words) == " ".join(p.text for p in by_segments)


def test_a_speaker_change_ends_a_sentence() -> None:
    transcript = Transcript(
        (
            TranscriptSegment(0.0, 2.0, "so you really think", speaker="Jane"),
            TranscriptSegment(2.0, 3.0, "yes I do", speaker="Sam"),
        ),
        None,
        3.0,
        ASR,
    )
    assert [p.text for p in _one_per_sentence(transcript)] == ["so you really think", "yes I do"]


def test_a_sentence_longer_than_max_is_split_between_words() -> None:
    long_words = [f"word{i}" for i in range(400)]
    sentences = [*_sentences(3), "So " + " ".join(long_words) + ".", *_sentences(3)]
    transcript = _word_timed(sentences)
    word_times = {
        w.text.strip(): (w.start_s, w.end_s) for s in transcript.segments for w in s.words
    }
    passages = segment_transcript(transcript, "ep")
    assert all(p.end_s - p.start_s <= 120.0 for p in passages)
    assert " ".join(p.text for p in passages) == " ".join(sentences)
    pieces = [p for p in passages if "word" in p.text]
    assert len(pieces) >= 2
    for piece in pieces:
        first, last = piece.text.split()[0], piece.text.split()[-1]
        if first.startswith("word"):
            assert piece.start_s == pytest.approx(word_times[first][0], abs=1e-3)
        if last.startswith("word"):
            assert piece.end_s == pytest.approx(word_times[last][1], abs=1e-3)
    assert pieces[0].text.startswith("So word0 ")
    assert SENTENCE_END.search(passages[passages.index(pieces[0]) - 1].text)
    assert pieces[-1].text.split()[-1] != "word399."  # the tail goes on with the next sentences


def test_a_long_unpunctuated_segment_without_words_is_split_by_time() -> None:
    text = " ".join(f"token{i}" for i in range(1000))
    transcript = Transcript((TranscriptSegment(0.0, 600.0, text),), "en", 600.0, ASR)
    passages = segment_transcript(transcript, "ep")
    assert len(passages) >= 5
    assert " ".join(p.text for p in passages) == text
    assert all(p.end_s - p.start_s <= 120.0 for p in passages)
    assert passages[-1].end_s == 600.0


def test_a_single_word_longer_than_max_stays_whole() -> None:
    transcript = Transcript((TranscriptSegment(5.0, 300.0, "Hmmmmmmm."),), None, 300.0, ASR)
    [passage] = segment_transcript(transcript, "ep")
    assert (passage.start_s, passage.end_s, passage.text) == (5.0, 300.0, "Hmmmmmmm.")


def test_short_tail_merges_unless_the_merge_is_too_long() -> None:
    merged = segment_transcript(_segment_timed(_sentences(9), seconds=10.0), "ep")
    assert len(merged) == 1 and merged[0].end_s - merged[0].start_s == pytest.approx(92.0)
    sentences = ["A very long opening statement.", "A short reply."]
    transcript = Transcript(
        (
            TranscriptSegment(0.0, 119.0, sentences[0]),
            TranscriptSegment(119.0, 159.0, sentences[1]),
        ),
        None,
        159.0,
        ASR,
    )
    kept = segment_transcript(transcript, "ep")
    assert [p.text for p in kept] == sentences


def test_a_passage_closes_early_rather_than_pass_max() -> None:
    transcript = _segment_timed(["First long thought.", "Second long thought."], seconds=70.0)
    passages = segment_transcript(transcript, "ep")
    assert [p.text for p in passages] == ["First long thought.", "Second long thought."]


def test_ids_model_and_determinism() -> None:
    transcript = _segment_timed(_sentences(60))
    first = segment_transcript(transcript, "ep-7")
    assert first == segment_transcript(transcript, "ep-7")
    assert [p.id for p in first] == [f"ep-7:{i:05d}" for i in range(len(first))]
    assert [p.index for p in first] == list(range(len(first)))
    assert {p.episode_id for p in first} == {"ep-7"}
    assert {p.source for p in first} == {ASR}
    assert {p.model for p in first} == {
        ModelRef(kind="segmenter", name="sentence-window", version="1-45-75-120")
    }
    other = segment_transcript(transcript, "ep-7", min_s=30, target_s=60, max_s=90.5)
    assert other[0].model.version == "1-30-60-90.5"


def test_untimed_text_is_cut_by_characters() -> None:
    paragraphs = [_sentences(6 + i % 3) for i in range(25)]
    body = "\n\n".join(
        f"Jane Doe: {' '.join(p)}" if i % 4 == 0 else " ".join(p) for i, p in enumerate(paragraphs)
    )
    transcript = parse_transcript(body.encode(), "text/plain")
    passages = segment_transcript(transcript, "ep")
    assert len(passages) > 3
    assert all(p.start_s == p.end_s == 0.0 for p in passages)
    _assert_covers_in_order(passages, [s for p in paragraphs for s in p])
    for passage in passages[:-1]:
        assert TARGET_CHARS <= len(passage.text) <= MAX_CHARS
        assert SENTENCE_END.search(passage.text)


def test_untimed_text_without_punctuation_is_split_between_words() -> None:
    text = " ".join(f"word{i}" for i in range(1500))
    passages = segment_transcript(parse_transcript(text.encode(), "text/plain"), "ep")
    assert " ".join(p.text for p in passages) == text
    assert all(len(p.text) <= MAX_CHARS for p in passages)


def test_empty_transcript_and_bad_bounds() -> None:
    empty = Transcript((), None, 0.0, ASR)
    assert segment_transcript(empty, "ep") == []
    with pytest.raises(ValueError, match="min_s"):
        segment_transcript(empty, "ep", min_s=80.0, target_s=75.0)


def test_parsed_webvtt_segments_end_to_end() -> None:
    cues = []
    for i, sentence in enumerate(_sentences(50)):
        start, end = i * 6, i * 6 + 5
        stamp = f"{start // 60:02d}:{start % 60:02d}.000 --> {end // 60:02d}:{end % 60:02d}.000"
        cues.append(f"{i + 1}\n{stamp}\n<v Host>{sentence}</v>\n")
    transcript = parse_transcript(("WEBVTT\n\n" + "\n".join(cues)).encode(), "text/vtt")
    passages = segment_transcript(transcript, "episode-1")
    _assert_covers_in_order(passages, _sentences(50))
    assert {p.source for p in passages} == {transcript.model}
    assert all(p.end_s - p.start_s <= 120.0 for p in passages)
