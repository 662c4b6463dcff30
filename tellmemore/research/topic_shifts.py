"""A labelled set of episodes whose topic changes inside them, made from the search eval corpus.

The search eval corpus (``search_eval/``) has one topic per episode, so it cannot tell whether
passages end where a topic does. This set rearranges its passages: every synthetic episode
strings together *sections* (one or two consecutive passages of one source episode) from
different podcasts, so each section boundary is a known topic shift, and the corpus's graded
labels still say which seconds answer each query. Sentences are timed evenly (the source
passage's duration shared by characters, 0.25 s between sentences everywhere), so a pause
never gives a boundary away.

``topic_shifts.json`` (``tellmemore.topic_shifts/1``) records the layout: which queries are the
*test* half (measured in the quality test) and which the *dev* half (for tuning), and per
episode the passage ids in order. :func:`build_layout` made it (``python -m
tellmemore.research.topic_shifts`` rewrites it; the layout is seeded, so it comes out the same).
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from models.types import ModelRef, Transcript, TranscriptSegment
from tellmemore.research.metrics import EvalPassage, EvalQuery, EvalSet, load_eval_set

FORMAT = "tellmemore.topic_shifts/1"
OFF_CATALOG_FORMAT_KEY = "off_catalog"
_PAUSE_S = 0.25
_SECTIONS_PER_EPISODE = 3
_SEED = 21
_SENTENCE = re.compile(r"(?<=[.?!])\s+(?=[A-Z0-9\"'])")
_TRANSCRIPT = ModelRef("publisher", "topic-shifts", "1")


@dataclass(frozen=True)
class PlacedPassage:
    """A source passage where it sits in a synthetic episode."""

    passage_id: str
    episode_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class ShiftEpisode:
    id: str
    podcast_id: str
    title: str
    transcript: Transcript
    passages: tuple[PlacedPassage, ...]
    boundaries_s: tuple[float, ...]  # where one section (source episode) gives way to the next


@dataclass(frozen=True)
class TopicShiftSet:
    episodes: tuple[ShiftEpisode, ...]
    queries: tuple[EvalQuery, ...]  # the half asked for (test or dev)
    off_catalog: tuple[str, ...]  # topics nothing in the catalog is about

    @property
    def placed(self) -> Mapping[str, PlacedPassage]:
        return {p.passage_id: p for e in self.episodes for p in e.passages}


def build_layout(eval_set: EvalSet, *, seed: int = _SEED) -> dict[str, Any]:
    """Split the queries in two halves (alternating within each kind) and, per half, lay out
    the passages labelled for it plus as many unlabelled distractors in synthetic episodes."""
    halves: dict[str, list[str]] = {"test": [], "dev": []}
    for kind in ("paraphrase", "keyword", "mixed"):
        for number, query in enumerate(eval_set.queries_of(kind)):
            halves["test" if number % 2 == 0 else "dev"].append(query.id)
    rng = random.Random(seed)  # noqa: S311  # a reproducible layout, not a secret
    by_id = {q.id: q for q in eval_set.queries}
    layout: dict[str, Any] = {"format": FORMAT}
    for half, ids in halves.items():
        labelled = {p for qid in ids for p in by_id[qid].relevant}
        others = [p.id for p in eval_set.passages if p.id not in labelled]
        distractors = set(rng.sample(others, min(len(others), len(labelled) // 2)))
        sections = _sections(eval_set, labelled | distractors)
        layout[half] = {"queries": ids, "episodes": _arrange(sections, rng)}
    layout[OFF_CATALOG_FORMAT_KEY] = [
        "the origins of bebop jazz",
        "deep sea creatures of the abyss",
        "dense star clusters and galaxies",
        "how lava flows from a volcano",
    ]
    return layout


def load_topic_shifts(
    half: str = "test", *, eval_set: EvalSet | None = None, path: Path | None = None
) -> TopicShiftSet:
    """The ``half`` ("test" or "dev") of the set as timed transcripts with placed labels."""
    source = eval_set or load_eval_set()
    if path is None:
        text = (
            resources.files("tellmemore.research")
            .joinpath("search_eval", "topic_shifts.json")
            .read_text(encoding="utf-8")
        )
    else:
        text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    if doc.get("format") != FORMAT or half not in ("test", "dev"):
        raise ValueError(f"not a {FORMAT!r} document, or no half {half!r}")
    passages = {p.id: p for p in source.passages}
    podcast_of = {e.id: p.id for p in source.podcasts for e in p.episodes}
    by_id = {q.id: q for q in source.queries}
    episodes = tuple(
        _episode(f"shift-{half}-{number:02d}", ids, passages, podcast_of)
        for number, ids in enumerate(doc[half]["episodes"])
    )
    return TopicShiftSet(
        episodes=episodes,
        queries=tuple(by_id[q] for q in doc[half]["queries"]),
        off_catalog=tuple(doc[OFF_CATALOG_FORMAT_KEY]),
    )


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(" ".join(text.split())) if s]


def _sections(eval_set: EvalSet, chosen: set[str]) -> list[list[str]]:
    """Runs of at most two consecutive chosen passages of one source episode."""
    sections: list[list[str]] = []
    for episode in eval_set.episodes:
        run: list[str] = []
        previous = -2
        for passage in episode.passages:
            if passage.id not in chosen:
                continue
            if run and (passage.index != previous + 1 or len(run) == 2):
                sections.append(run)
                run = []
            run.append(passage.id)
            previous = passage.index
        if run:
            sections.append(run)
    return sections


def _arrange(sections: list[list[str]], rng: random.Random) -> list[list[str]]:
    """Sections shuffled into episodes of three, neighbours from different podcasts."""
    pending = list(sections)
    rng.shuffle(pending)
    episodes: list[list[list[str]]] = []
    while pending:
        episode = [pending.pop()]
        while len(episode) < _SECTIONS_PER_EPISODE and pending:
            last = _podcast(episode[-1][-1])
            pick = next((s for s in reversed(pending) if _podcast(s[0]) != last), None)
            if pick is None:
                break
            pending.remove(pick)
            episode.append(pick)
        episodes.append(episode)
    return [[p for section in episode for p in section] for episode in episodes]


def _podcast(passage_id: str) -> str:
    return passage_id.split("-")[2]  # eval-ep-<podcast>-<episode>:<index>


def _episode(
    episode_id: str,
    ids: Sequence[str],
    passages: Mapping[str, EvalPassage],
    podcast_of: Mapping[str, str],
) -> ShiftEpisode:
    segments: list[TranscriptSegment] = []
    placed: list[PlacedPassage] = []
    boundaries: list[float] = []
    at = 0.0
    previous_source = None
    for passage_id in ids:
        passage = passages[passage_id]
        source = passage_id.rpartition(":")[0]
        if previous_source is not None and source != previous_source:
            boundaries.append(round(at, 3))
        previous_source = source
        sentences = split_sentences(passage.text)
        speaking = passage.end_s - passage.start_s - _PAUSE_S * len(sentences)
        per_char = speaking / sum(len(s) for s in sentences)
        begin = at
        for sentence in sentences:
            length = len(sentence) * per_char
            segments.append(TranscriptSegment(round(at, 3), round(at + length, 3), sentence))
            at += length + _PAUSE_S
        placed.append(PlacedPassage(passage_id, episode_id, round(begin, 3), round(at, 3)))
    podcast = podcast_of[ids[0].rpartition(":")[0]]
    transcript = Transcript(tuple(segments), "en", round(at, 3), _TRANSCRIPT)
    return ShiftEpisode(
        episode_id, podcast, episode_id, transcript, tuple(placed), tuple(boundaries)
    )


def main() -> None:
    """Rewrite ``search_eval/topic_shifts.json`` from the corpus (seeded: the same layout)."""
    target = Path(__file__).parent / "search_eval" / "topic_shifts.json"
    target.write_text(json.dumps(build_layout(load_eval_set()), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
