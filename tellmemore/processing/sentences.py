"""Sentence vectors, computed once per episode.

Two steps need the transcript's sentences embedded: the segmenter compares them to cut passages
where the topic changes, and the store keeps each passage's sentence vectors so search can
highlight a hit found by meaning without a model call. Both split text into sentences the same
way almost everywhere, and both embed passages with the configured model unless a switch-over
made another index active, so storing reuses the segmenter's vectors and embeds only the
sentences it does not have (a sentence split differently, or every one when the index's space
differs). Before, every sentence of an episode was embedded twice (issue 21).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.segmenter import join_embeddings, sentence_batches, sentence_texts
from models.settings import EmbedderSettings
from models.types import Embeddings, Transcript
from tellmemore.processing.ports import Counter, Embed
from tellmemore.search import (
    by_passage,
    known_sentences,
    passage_sentences,
    sentence_matrix,
    unknown_sentences,
)


@dataclass(frozen=True)
class SegmenterSentences:
    """The segmenter's sentences and their vectors (the configured embedder's)."""

    texts: list[str]
    vectors: Embeddings


async def segmenter_sentences(
    embed: Embed, transcript: Transcript, progress: Counter
) -> SegmenterSentences | None:
    """The transcript's sentences embedded in bounded batches, counted on ``progress``; None
    when it has none."""
    texts = sentence_texts(transcript)
    progress.expect(len(texts))
    parts = []
    for batch in sentence_batches(texts):
        parts.append(await embed(batch))
        progress.add(len(batch))
    return SegmenterSentences(texts, join_embeddings(parts)) if parts else None


async def passage_sentence_vectors(
    embed: Embed,
    texts: Sequence[str],
    embedded: Embeddings,
    *,
    space: EmbedderSettings | None,
    configured: EmbedderSettings,
    segmenter: SegmenterSentences | None,
    progress: Counter,
) -> list[np.ndarray]:
    """Each passage's sentence vectors in the index's space (``embedded``: its passages'
    embeddings, for the model and dimension): the segmenter's where they are the same space,
    the rest embedded now; the texts embedded are counted on ``progress``."""
    flat, counts = passage_sentences(texts)
    known: dict[str, np.ndarray] = {}
    if segmenter is not None and same_space(segmenter.vectors, embedded, space, configured):
        known = known_sentences(segmenter.texts, segmenter.vectors.vectors)
    missing = unknown_sentences(flat, known)
    progress.expect(len(texts) + 1 + len(missing))
    for batch in sentence_batches(missing):
        more = await embed(batch, space)
        known.update(known_sentences(batch, more.vectors))
        progress.add(len(batch))
    return by_passage(sentence_matrix(flat, known, embedded.dimension), counts)


def same_space(
    segmenter: Embeddings,
    embedded: Embeddings,
    space: EmbedderSettings | None,
    configured: EmbedderSettings,
) -> bool:
    """Whether the segmenter's vectors are the index's: the same model, and the same passage
    prefix (a space may differ from the configured one by its prefix alone)."""
    return segmenter.model.id == embedded.model.id and (
        space is None or space.passage_prefix == configured.passage_prefix
    )
