"""One episode as it travels through the pipeline: a row of fixed Arrow schema.

Every stage maps whole batches of these rows to rows of the same schema (filling its own
columns), so blocks never disagree about types. Nested values (transcripts, passages,
summaries) travel as JSON text and vectors as raw float32 bytes: compact in the object store and
free of Arrow's type inference. A row whose ``error_code`` is set failed in ``error_stage``; the
stages after it pass it through untouched and the writer records the failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from models.types import Chapter, ModelRef, RetrievalSegment, Summary
from tellmemore.processing import ProcessingError, error_of
from tellmemore.search import by_passage, passage_sentences
from tellmemore.storage import StorageError


@dataclass(frozen=True)
class Item:
    episode_id: str
    podcast_id: str
    title: str
    podcast_title: str
    published_at: datetime | None
    enclosure_url: str
    publisher_transcripts: str  # JSON list of {url, type, language}
    language: str
    transcript_key: str  # the stored transcript's S3 key ("" if none yet)
    chapters_url: str = ""  # the feed's podcast:chapters document ("" if none)
    # Filled by the stages:
    # JSON list of the publisher's chapters as fetched by the download stage ("" when not
    # fetched this run: the stored ones stay)
    publisher_chapters: str = ""
    audio_key: str = ""  # staged audio in S3
    transcript: str = ""  # JSON (models.captions format), when made in this run
    transcript_source: str = ""  # publisher | asr
    segments: str = ""  # JSON list of passages
    summary: str = ""  # JSON, this run's or the stored one
    summary_is_new: bool = False
    vectors: bytes = b""  # float32, one row per passage then one for the summary
    # float32, one row per sentence of every passage in order (search's sentence splitting,
    # ``tellmemore.search.passage_sentences``): stored for highlighting hits found by meaning
    sentence_vectors: bytes = b""
    # The segmenter's sentences (JSON list), their vectors (float32 rows) and the embedding
    # space they are in (model id and passage prefix): the embed stage reuses them when it
    # embeds in the same space, and clears them.
    segmenter_sentences: str = ""
    segmenter_vectors: bytes = b""
    segmenter_space: str = ""
    dimension: int = 0
    embedding_model: str = ""
    segment_count: int = 0
    error_stage: str = ""
    error_code: str = ""
    error_message: str = ""
    retryable: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.error_code)


SCHEMA = pa.schema(
    [
        ("episode_id", pa.string()),
        ("podcast_id", pa.string()),
        ("title", pa.string()),
        ("podcast_title", pa.string()),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("enclosure_url", pa.string()),
        ("publisher_transcripts", pa.string()),
        ("language", pa.string()),
        ("transcript_key", pa.string()),
        ("chapters_url", pa.string()),
        ("publisher_chapters", pa.string()),
        ("audio_key", pa.string()),
        ("transcript", pa.large_string()),
        ("transcript_source", pa.string()),
        ("segments", pa.large_string()),
        ("summary", pa.string()),
        ("summary_is_new", pa.bool_()),
        ("vectors", pa.large_binary()),
        ("sentence_vectors", pa.large_binary()),
        ("segmenter_sentences", pa.large_string()),
        ("segmenter_vectors", pa.large_binary()),
        ("segmenter_space", pa.string()),
        ("dimension", pa.int32()),
        ("embedding_model", pa.string()),
        ("segment_count", pa.int32()),
        ("error_stage", pa.string()),
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("retryable", pa.bool_()),
    ]
)
assert [f.name for f in fields(Item)] == SCHEMA.names


def to_table(items: list[Item]) -> pa.Table:
    return pa.Table.from_pylist([asdict(i) for i in items], schema=SCHEMA)


def from_table(table: pa.Table) -> list[Item]:
    return [Item(**row) for row in table.to_pylist()]


def map_items(
    table: pa.Table, stage: str, work: Callable[[Item], Item], *, skip: Callable[[Item], bool]
) -> pa.Table:
    """``work`` on every row that has not failed and is not skipped; an exception fails the row
    alone, recorded with its reason."""
    out = []
    for item in from_table(table):
        if item.failed or skip(item):
            out.append(item)
            continue
        try:
            out.append(work(item))
        except Exception as exc:
            out.append(failed(item, stage, exc))
    return to_table(out)


def failed(item: Item, stage: str, exc: BaseException) -> Item:
    code, message, retryable = describe(exc)
    return replace(item, error_stage=stage, error_code=code, error_message=message[:2000],
                   retryable=retryable)  # fmt: skip


def describe(exc: BaseException) -> tuple[str, str, bool]:
    """A failure's code and sentence (as online processing records them) and whether a rerun
    may succeed: a step that said so, storage trouble, or an unexpected error."""
    code, message = error_of(exc)
    if isinstance(exc, ProcessingError):
        return code, message, exc.retryable
    return code, message, isinstance(exc, StorageError) or code == "internal_error"


# ---- nested values -----------------------------------------------------------------------


def parse_ref(model_id: str) -> ModelRef:
    """``kind:name@version`` back into a :class:`ModelRef`."""
    kind, _, rest = model_id.partition(":")
    name, _, version = rest.rpartition("@")
    return ModelRef(kind=kind, name=name, version=version)  # type: ignore[arg-type]


def segments_to_json(segments: list[RetrievalSegment]) -> str:
    return json.dumps(
        [
            {
                "id": s.id, "episode_id": s.episode_id, "index": s.index, "start_s": s.start_s,
                "end_s": s.end_s, "text": s.text, "model": s.model.id, "source": s.source.id,
            }
            for s in segments
        ],
        ensure_ascii=False,
    )  # fmt: skip


def segments_from_json(text: str) -> list[RetrievalSegment]:
    return [
        RetrievalSegment(
            id=d["id"], episode_id=d["episode_id"], index=int(d["index"]),
            start_s=float(d["start_s"]), end_s=float(d["end_s"]), text=d["text"],
            model=parse_ref(d["model"]), source=parse_ref(d["source"]),
        )
        for d in json.loads(text)
    ]  # fmt: skip


def summary_to_json(summary: Summary) -> str:
    return json.dumps(
        {
            "summary": summary.summary,
            "topics": list(summary.topics),
            "chapters": [
                {"start_s": c.start_s, "end_s": c.end_s, "title": c.title} for c in summary.chapters
            ],
            "model": summary.model.id,
        },
        ensure_ascii=False,
    )


def summary_from_json(text: str) -> Summary:
    d = json.loads(text)
    return Summary(
        summary=d["summary"],
        topics=tuple(d["topics"]),
        chapters=tuple(Chapter(c["start_s"], c["end_s"], c["title"]) for c in d["chapters"]),
        model=parse_ref(d["model"]),
    )


def vectors_from(item: Item) -> npt.NDArray[np.float32]:
    flat = np.frombuffer(item.vectors, dtype=np.float32)
    return flat.reshape(-1, item.dimension)


def sentence_vectors_from(
    item: Item, texts: list[str]
) -> list[npt.NDArray[np.float32] | None] | None:
    """The passages' sentence vectors (one matrix per passage of ``texts``, None for one without
    a sentence), or None for a row embedded without them."""
    if not item.sentence_vectors:
        return None
    flat = np.frombuffer(item.sentence_vectors, dtype=np.float32).reshape(-1, item.dimension)
    return [m if len(m) else None for m in by_passage(flat, passage_sentences(texts)[1])]


def batches(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
