"""The model stages: each a callable class that loads its model once per Ray actor and maps
whole blocks of episode rows — the same ``models/`` code the Serve deployments run.

Failures are per episode (recorded on the row by :func:`pipelines.rows.map_items`); an actor
never dies for one bad file.
"""

from __future__ import annotations

import json
import tempfile
from collections import ChainMap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from models.captions import transcript_from_dict, transcript_to_dict
from models.embedder import Embedder
from models.segmenter import (
    embed_sentences,
    join_embeddings,
    segment_transcript,
    sentence_batches,
    sentence_texts,
)
from models.summarizer.backends import make_backend
from models.summarizer.summarizer import Summarizer
from models.whisper import WhisperTranscriber
from pipelines.rows import (
    Item,
    failed,
    from_table,
    map_items,
    segments_from_json,
    segments_to_json,
    summary_from_json,
    summary_to_json,
    to_table,
)
from tellmemore.index import SearchIndex, with_runtime
from tellmemore.processing import ProcessingError
from tellmemore.search import (
    known_sentences,
    passage_sentences,
    sentence_matrix,
    unknown_sentences,
)
from tellmemore.settings import Settings
from tellmemore.storage import ObjectStore, model_artifacts


class Transcribe:
    """Whisper on the staged audio (rows with a publisher transcript pass through)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._whisper = WhisperTranscriber(
            settings.models.whisper,
            settings.models.dir,
            artifacts=model_artifacts(settings.s3, settings.models),
        )
        self._objects = ObjectStore(settings.s3)

    def __call__(self, table: pa.Table) -> pa.Table:
        return map_items(table, "transcribe", self._one, skip=lambda i: not i.audio_key)

    def _one(self, item: Item) -> Item:
        with tempfile.TemporaryDirectory(prefix="tmm-batch-asr-") as tmp:
            local = Path(tmp) / "audio"
            self._objects.download_file(item.audio_key, local)
            transcript = self._whisper.transcribe_file(local, language=item.language or None)
        if not transcript.segments:
            raise ProcessingError("no_speech", "No speech was found in this episode.",
                                  retryable=False)  # fmt: skip
        return replace(item, transcript=json.dumps(transcript_to_dict(transcript)),
                       transcript_source="asr")  # fmt: skip


class Segment:
    """Retrieval passages cut where the topic changes, from this run's transcript or the
    stored one (S3). Each episode's sentences are embedded in bounded batches with the
    configured embedding model, whatever index the run writes: the cuts must not depend on it."""

    def __init__(self, settings: Settings) -> None:
        self._objects = ObjectStore(settings.s3)
        self._model = Embedder(
            settings.models.embedder, artifacts=model_artifacts(settings.s3, settings.models)
        )
        self._passage_prefix = settings.models.embedder.passage_prefix

    def __call__(self, table: pa.Table) -> pa.Table:
        return map_items(table, "segment", self._one, skip=lambda i: False)

    def _one(self, item: Item) -> Item:
        if item.transcript:
            transcript = transcript_from_dict(json.loads(item.transcript))
        elif item.transcript_key:
            transcript = transcript_from_dict(self._objects.get_json(item.transcript_key))
        else:
            raise ProcessingError(
                "no_transcript",
                "The episode has no stored transcript; run the transcribe stage for it.",
                retryable=False,
            )
        vectors = embed_sentences(self._model.embed_passages, transcript)
        segments = segment_transcript(transcript, item.episode_id, sentence_vectors=vectors)
        if not segments:
            raise ProcessingError("no_speech", "No speech was found in this episode.",
                                  retryable=False)  # fmt: skip
        if vectors is None:
            return replace(item, segments=segments_to_json(segments))
        return replace(
            item,
            segments=segments_to_json(segments),
            segmenter_sentences=json.dumps(sentence_texts(transcript)),
            segmenter_vectors=np.ascontiguousarray(vectors.vectors, dtype=np.float32).tobytes(),
            segmenter_space=space_key(vectors.model.id, self._passage_prefix),
        )


class Summarize:
    """The summarizer on vLLM in this actor (or an OpenAI-compatible endpoint, by settings).

    Ray Data's own LLM processor maps one prompt to one answer per row; a summary here is a
    map-reduce over parts plus chapter titles with validation and one retry, so the engine is
    driven through :class:`Summarizer`, which sends each episode's conversations as one batch.
    """

    def __init__(self, settings: Settings) -> None:
        llm = settings.models.llm
        if llm.backend == "vllm":  # in-process engine: an artifact URI becomes the cached folder
            artifacts = model_artifacts(settings.s3, settings.models)
            llm = llm.model_copy(update={"model": artifacts.local(llm.model)})
        self._summarizer = Summarizer(
            make_backend(llm, settings.models.dir), max_output_tokens=llm.max_output_tokens
        )

    def __call__(self, table: pa.Table) -> pa.Table:
        def one(item: Item) -> Item:
            summary = self._summarizer.summarize(
                segments_from_json(item.segments), title=item.title
            )
            return replace(item, summary=summary_to_json(summary), summary_is_new=True)

        return map_items(table, "summarize", one, skip=lambda i: False)


class Embed:
    """Passages and summary of several episodes encoded in one call, in the target index's
    embedding space; then the passages' sentences (search highlights a hit found by meaning
    with them): the segmenter's vectors where this run segmented them in the same space, the
    others in calls of at most ``SENTENCE_BATCH`` so a long episode's are never one."""

    def __init__(self, settings: Settings, target: SearchIndex) -> None:
        space = with_runtime(target, settings.models.embedder)
        self._model = Embedder(space, artifacts=model_artifacts(settings.s3, settings.models))
        self._passage_prefix = space.passage_prefix

    def __call__(self, table: pa.Table) -> pa.Table:
        items = from_table(table)
        live = [i for i in items if not i.failed]
        texts: list[str] = []
        parsed: list[Item] = []
        own_counts: list[int] = []
        flats: list[list[str]] = []
        knowns: list[dict[str, np.ndarray]] = []
        for item in live:
            try:
                passages = [s.text for s in segments_from_json(item.segments)]
                own = list(passages)
                if item.summary:
                    own.append(summary_from_json(item.summary).summary)
                known = self._reusable(item)
            except (ValueError, KeyError) as exc:
                own, passages, known = [], [], {}
                parsed.append(failed(item, "embed", exc))
            else:
                parsed.append(item)
            flat, _ = passage_sentences(passages)
            texts.extend(own)
            own_counts.append(len(own))
            flats.append(flat)
            knowns.append(known)
        try:
            result = self._model.embed_passages(texts)
            missing = list(dict.fromkeys(
                t for flat, known in zip(flats, knowns, strict=True)
                for t in unknown_sentences(flat, known)
            ))  # fmt: skip
            split = [self._model.embed_passages(b) for b in sentence_batches(missing)]
            fresh = known_sentences(missing, join_embeddings(split).vectors) if split else {}
        except Exception as exc:
            return to_table([failed(i, "embed", exc) if not i.failed else i for i in items])
        out: dict[str, Item] = {}
        position = 0
        for item, count, flat, known in zip(parsed, own_counts, flats, knowns, strict=True):
            block = result.vectors[position : position + count]
            position += count
            if item.failed:
                out[item.episode_id] = item
                continue
            rows = sentence_matrix(flat, ChainMap(known, fresh), result.dimension)
            out[item.episode_id] = replace(
                item,
                vectors=np.ascontiguousarray(block, dtype=np.float32).tobytes(),
                sentence_vectors=np.ascontiguousarray(rows, dtype=np.float32).tobytes(),
                dimension=result.dimension,
                embedding_model=result.model.id,
                segmenter_sentences="",
                segmenter_vectors=b"",
                segmenter_space="",
            )
        return to_table([out.get(i.episode_id, i) for i in items])

    def _reusable(self, item: Item) -> dict[str, np.ndarray]:
        """The segmenter's sentence vectors by sentence, when they are in this stage's space."""
        if item.segmenter_space != space_key(self._model.model.id, self._passage_prefix):
            return {}
        texts = json.loads(item.segmenter_sentences)
        matrix = np.frombuffer(item.segmenter_vectors, dtype=np.float32)
        if not texts or matrix.size % len(texts):
            return {}
        return known_sentences(texts, matrix.reshape(len(texts), -1))


def space_key(model_id: str, passage_prefix: str) -> str:
    """An embedding space as the segment and embed stages compare it: what changes vectors."""
    return f"{model_id}\x1f{passage_prefix}"
