"""Search's pure parts: rank fusion, MMR, highlighting, filters, heard coverage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tellmemore.search import (
    SearchFilters,
    covered_fraction,
    highlight,
    marked_html,
    maximal_marginal_relevance,
    query_terms,
    reciprocal_rank_fusion,
    sentences,
    where_clause,
)


def test_rrf_rewards_agreement_and_keeps_first_seen_order_on_ties() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["d", "b", "e"]], k=60)
    keys = [k for k, _ in fused]
    assert keys[0] == "b"  # 2nd in both beats 1st in one
    assert set(keys) == {"a", "b", "c", "d", "e"}
    assert keys.index("a") < keys.index("d")  # equal scores: first ranking's item first
    assert fused[0][1] == pytest.approx(2 / 62)


def test_rrf_weights_and_validation() -> None:
    fused = reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0, 2.0])
    assert [k for k, _ in fused] == ["b", "a"]
    with pytest.raises(ValueError, match="One weight per ranking"):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])


def test_mmr_prefers_a_different_item_over_a_near_copy() -> None:
    relevance = {"a": 1.0, "a2": 0.99, "b": 0.8}
    same = {frozenset({"a", "a2"}): 0.98}

    def similarity(x: str, y: str) -> float:
        return same.get(frozenset({x, y}), 0.1)

    chosen = maximal_marginal_relevance(
        list(relevance), relevance.__getitem__, similarity, trade_off=0.5,
        stop=lambda c: len(c) == 2,
    )  # fmt: skip
    assert chosen == ["a", "b"]


def test_mmr_counts_what_was_chosen_before_for_similarity_only() -> None:
    """A growing list: its items push similar candidates down but are not returned again,
    nor seen by ``accept`` and ``stop`` (which judge the new picks alone)."""
    relevance = {"copy": 1.0, "other": 0.8, "third": 0.7}
    same = {frozenset({"copy", "held"}): 1.0}

    def similarity(x: str, y: str) -> float:
        return same.get(frozenset({x, y}), 0.1)

    seen: list[list[str]] = []

    def stop(chosen: list[str]) -> bool:
        seen.append(list(chosen))
        return len(chosen) == 2

    chosen = maximal_marginal_relevance(
        list(relevance), relevance.__getitem__, similarity, trade_off=0.5, stop=stop,
        chosen_before=["held"],
    )  # fmt: skip
    assert chosen == ["other", "third"]
    assert all("held" not in c for c in seen)


def test_mmr_accept_vetoes_and_pure_relevance_order() -> None:
    relevance = {"a": 3.0, "b": 2.0, "c": 1.0}
    chosen = maximal_marginal_relevance(
        list(relevance), relevance.__getitem__, lambda _x, _y: 0.0, trade_off=1.0,
        accept=lambda c, _chosen: c != "b",
    )  # fmt: skip
    assert chosen == ["a", "c"]


def test_sentences_split_on_end_punctuation() -> None:
    text = "First one. Second one? Third! “Quoted.” Last"
    parts = [text[s.start : s.end] for s in sentences(text)]
    assert parts == ["First one.", "Second one?", "Third!", "“Quoted.”", "Last"]


def test_highlight_marks_query_words_with_light_stemming() -> None:
    text = (
        "We start with coffee. Then we talk about exploring Mars and rockets. Finally some history."
    )
    h = highlight(text, "rocket exploration", start_s=100.0, end_s=160.0)
    marked = [h.snippet[a:b] for a, b in h.marks]
    assert "rockets" in marked and "exploring" in marked
    assert "coffee" not in marked
    # the deep link points inside the passage, at the matching sentence, not its start
    assert 100.0 < h.offset_s < 160.0
    assert "<mark>rockets</mark>" in marked_html(h)


def test_highlight_uses_sentence_scores_when_no_word_matches() -> None:
    text = "Alpha beta. Gamma delta. Epsilon zeta."
    h = highlight(text, "unrelated words", start_s=0, end_s=30, sentence_scores=[0.1, 0.9, 0.2],
                  max_chars=12)  # fmt: skip
    assert h.snippet == "Gamma delta."
    assert h.marks == ()
    assert h.offset_s == pytest.approx(30 * text.index("Gamma") / len(text), abs=0.1)


def test_highlight_html_escapes_everything_else() -> None:
    h = highlight("<b>rockets</b> & more.", "rockets", start_s=0, end_s=10)
    assert marked_html(h) == "&lt;b&gt;<mark>rockets</mark>&lt;/b&gt; &amp; more."


def test_query_terms_drop_stop_words() -> None:
    assert query_terms("What is the best way to sleep?") == frozenset({"best", "way", "sleep"})


def test_where_clause_quotes_values_and_normalises_times() -> None:
    filters = SearchFilters(
        podcast_ids=("a'b", "c"),
        published_after=datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        published_before=datetime(2026, 2, 1, tzinfo=UTC),
        min_duration_s=30,
        max_duration_s=90.5,
        exclude_segment_ids=("x",),
    )
    clause = where_clause(filters)
    assert clause is not None
    assert "podcast_id IN ('a''b', 'c')" in clause
    assert "published_at >= timestamp '2026-01-01 00:00:00.000000'" in clause
    assert "published_at < timestamp '2026-02-01 00:00:00.000000'" in clause
    assert "(end_s - start_s) >= 30.0" in clause and "(end_s - start_s) <= 90.5" in clause
    assert "id NOT IN ('x')" in clause
    assert where_clause(SearchFilters()) is None
    assert "end_s" not in (where_clause(filters, durations=False) or "")


def test_where_clause_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        where_clause(SearchFilters(published_after=datetime(2026, 1, 1)))


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        ([], 0.0),
        ([(0, 100)], 1.0),
        ([(10, 30), (20, 40)], 1.0),
        ([(10, 30), (25, 30)], 0.5),  # overlapping reports count once
        ([(50, 70), (0, 5)], 0.0),
        ([(15, 25), (35, 60)], 0.5),
    ],
)
def test_covered_fraction(heard: list[tuple[float, float]], expected: float) -> None:
    assert covered_fraction(20, 40, heard) == pytest.approx(expected)


def test_relative_score_fusion_keeps_score_gaps() -> None:
    from tellmemore.search import relative_score_fusion

    semantic = {"a": 0.80, "b": 0.79, "c": 0.20}
    fulltext = {"c": 12.0, "a": 1.0, "d": 0.5}  # one decisive exact match
    fused = dict(relative_score_fusion([semantic, fulltext], [0.7, 0.3]))
    assert fused["a"] == pytest.approx(0.7 + 0.3 * (0.5 / 11.5))
    assert fused["c"] == pytest.approx(0.3)
    assert fused["d"] == pytest.approx(0.0)
    # one hit (or all tied) gets its list's full weight
    assert dict(relative_score_fusion([{"x": 3.0}], [0.4])) == {"x": pytest.approx(0.4)}
    with pytest.raises(ValueError, match="One weight per list"):
        relative_score_fusion([semantic], [0.5, 0.5])


def test_a_long_unpunctuated_passage_is_windowed_around_the_match() -> None:
    words = [f"word{i}" for i in range(200)]
    words[150] = "inheritance"
    text = " ".join(words)  # one 1,300-character "sentence", as Whisper sometimes writes
    h = highlight(text, "inheritance", start_s=0.0, end_s=100.0, max_chars=120)
    assert len(h.snippet) <= 122 and h.snippet.startswith("…") and h.snippet.endswith("…")
    assert [h.snippet[a:b] for a, b in h.marks] == ["inheritance"]
    # the deep link moves into the sentence, near the match
    assert 60.0 < h.offset_s < text.index("inheritance") / len(text) * 100.0 + 0.1


def test_hyphenated_words_match_by_their_parts() -> None:
    h = highlight("He was an ill-disposed man.", "ill-disposed", start_s=0, end_s=5)
    assert [h.snippet[a:b] for a, b in h.marks] == ["ill", "disposed"]
