"""Storing an episode embeds its sentences once (issue 21): the passages' sentence vectors are
the segmenter's, reused, and only sentences the segmenter never embedded go to the model.

The real MiniLM embeds the labelled topic-shift episodes (real multi-topic transcripts). The
reused vectors must be the ones a fresh embedding of each passage's sentences gives, and the
counter the episode's status reads must add up to what it expected.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import numpy as np
import pytest

from models.embedder import Embedder
from models.segmenter import segment_transcript
from models.settings import EmbedderSettings
from models.types import Embeddings
from tellmemore.processing.sentences import passage_sentence_vectors, segmenter_sentences
from tellmemore.research.topic_shifts import ShiftEpisode, load_topic_shifts
from tellmemore.search import passage_sentences

pytestmark = pytest.mark.models


class Counting:
    """The real embedder behind the processing port, counting the texts it is given."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.texts = 0

    async def __call__(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Embeddings:
        self.texts += len(texts)
        return self.model.embed_passages(list(texts))


class Counter:
    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0.0

    def expect(self, total: int) -> None:
        self.total = total

    def add(self, amount: float = 1.0) -> None:
        self.done += amount


async def store_vectors(embedder: Embedder, space: EmbedderSettings | None) -> tuple[int, int, int]:
    """For four test-half episodes: segment, then the store's sentence vectors, checked against
    a fresh embedding. Returns the sentences stored, the texts embedded for them, and the
    sentences the segmenter embedded."""
    stored = embedded = segmenter_total = 0
    for episode in load_topic_shifts("test").episodes[:4]:
        embed = Counting(embedder)
        sentences = await segmenter_sentences(embed, episode.transcript, Counter())
        assert sentences is not None
        segmenter_total += embed.texts
        segments = segment_transcript(episode.transcript, episode.id,
                                      sentence_vectors=sentences.vectors)  # fmt: skip
        texts = [s.text for s in segments]
        passages = embedder.embed_passages([*texts, "summary"])
        embed.texts = 0
        counter = Counter()
        vectors = await passage_sentence_vectors(
            embed, texts, passages, space=space, configured=EmbedderSettings(),
            segmenter=sentences, progress=counter,
        )  # fmt: skip
        flat, counts = passage_sentences(texts)
        fresh = embedder.embed_passages(flat).vectors
        assert [len(v) for v in vectors] == counts
        assert np.allclose(np.concatenate(vectors), fresh, atol=1e-4)
        stored += len(flat)
        embedded += embed.texts
        assert counter.total == len(texts) + 1 + embed.texts  # what the status shows as total
        assert counter.done == embed.texts  # the passages' own call is counted by the caller
    return stored, embedded, segmenter_total


def test_the_segmenters_sentence_vectors_are_reused_for_the_store(embedder: Embedder) -> None:
    stored, embedded, segmented = asyncio.run(store_vectors(embedder, None))
    print(f"\nsentences stored {stored}, embedded again {embedded} "
          f"(segmenter embedded {segmented})")  # fmt: skip
    assert stored > 50
    # Only sentences the highlighter splits differently from the segmenter are embedded again.
    assert embedded <= 0.1 * stored


def test_another_space_embeds_every_sentence_again(embedder: Embedder) -> None:
    # Same model, another passage prefix: the segmenter's vectors are not this index's.
    other = EmbedderSettings(passage_prefix="passage: ")
    stored, embedded = asyncio.run(store_vectors_in(embedder, other))
    assert embedded == stored


async def store_vectors_in(embedder: Embedder, space: EmbedderSettings) -> tuple[int, int]:
    # The model embeds as the index's space would: with its prefix.
    prefixed = Embedder(space)
    stored = embedded = 0
    for episode in load_topic_shifts("test").episodes[:2]:
        embed = Counting(embedder)
        sentences = await segmenter_sentences(embed, episode.transcript, Counter())
        assert sentences is not None
        segments = segment_transcript(episode.transcript, episode.id,
                                      sentence_vectors=sentences.vectors)  # fmt: skip
        texts = [s.text for s in segments]
        other = Counting(prefixed)
        vectors = await passage_sentence_vectors(
            other, texts, prefixed.embed_passages(texts), space=space,
            configured=EmbedderSettings(), segmenter=sentences, progress=Counter(),
        )  # fmt: skip
        flat, _ = passage_sentences(texts)
        assert np.allclose(np.concatenate(vectors), prefixed.embed_passages(flat).vectors,
                           atol=1e-4)  # fmt: skip
        stored += len(flat)
        embedded += other.texts
    return stored, embedded


def test_the_batch_embed_stage_reuses_the_segment_stages_vectors(embedder: Embedder) -> None:
    """The batch pipeline's segment stage hands its sentence vectors on; the embed stage
    reuses them in the same space and clears them (they are not carried to the write)."""
    from models.captions import transcript_to_dict
    from pipelines.inference import Embed, Segment
    from pipelines.rows import Item, from_table, to_table
    from tellmemore.index import index_for
    from tellmemore.settings import Settings

    settings = Settings()
    episodes = load_topic_shifts("test").episodes[:2]

    def as_item(e: ShiftEpisode) -> Item:
        transcript = json.dumps(transcript_to_dict(e.transcript))
        return Item(e.id, "p", e.title, "P", None, "", "[]", "en", "", transcript=transcript)

    items = [as_item(e) for e in episodes]
    segmented = Segment(settings)(to_table(items))
    stage = Embed(settings, index_for(settings.models.embedder))
    model = stage._model  # the real embedder, watched: which texts reach it
    seen: list[str] = []
    real = model.embed_passages

    def watched(texts: Sequence[str]) -> Embeddings:
        seen.extend(texts)
        return real(texts)

    model.embed_passages = watched  # type: ignore[method-assign]
    done = from_table(stage(segmented))
    stored = 0
    for item in done:
        assert not item.failed, item.error_message
        assert not item.segmenter_sentences and not item.segmenter_vectors
        texts = [s["text"] for s in json.loads(item.segments)]
        flat, _ = passage_sentences(texts)
        rows = np.frombuffer(item.sentence_vectors, dtype=np.float32).reshape(len(flat), -1)
        assert np.allclose(rows, embedder.embed_passages(flat).vectors, atol=1e-4)
        stored += len(flat)
    passages = sum(len(json.loads(i.segments)) for i in done)
    again = len(seen) - passages  # after the passages' own call: sentences embedded again
    print(f"\nbatch: sentences stored {stored}, embedded again {again}")
    assert stored > 20 and again <= 0.1 * stored
