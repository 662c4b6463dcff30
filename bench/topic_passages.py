"""Topic-true passages: time precision and section recall of tell-me-more playlists and
search nDCG@10 on the topic-shift set, per segmenter (``python -m bench.topic_passages``).

The length segmenter (45-120 s) and the topic segmenter are each measured on a fresh LanceDB
index in a temporary folder, with the real embedding model, search engine and planner.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from models.embedder import Embedder
from models.settings import EmbedderSettings
from tellmemore.index import SegmentStore, connect
from tellmemore.research.topic_eval import (
    TopicQuality,
    by_length,
    by_topic,
    measure,
    store_episodes,
)
from tellmemore.research.topic_shifts import load_topic_shifts
from tellmemore.search import SearchEngine, TopicPlanner
from tellmemore.search.ports import TextEmbedder
from tellmemore.settings import LanceSettings, S3Settings, SearchSettings


class _Shared:
    """The one loaded model behind the search port (no second copy)."""

    def __init__(self, model: Embedder) -> None:
        self._model = model

    @property
    def model_id(self) -> str:
        return self._model.model.id

    async def embed_queries(self, texts, space=None):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(lambda: self._model.embed_queries(list(texts)).vectors)

    async def embed_passages(self, texts, space=None):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(lambda: self._model.embed_passages(list(texts)).vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--half", default="test", choices=["test", "dev"])
    parser.add_argument("--segmenter", default="both", choices=["length", "topic", "both"])
    parser.add_argument("--per-topic", action="store_true")
    args = parser.parse_args()
    model = Embedder(EmbedderSettings())
    shifts = load_topic_shifts(args.half)
    names = ["length", "topic"] if args.segmenter == "both" else [args.segmenter]
    for name in names:
        segment = by_length() if name == "length" else by_topic(model)
        with tempfile.TemporaryDirectory(prefix="tmm-bench-topics-") as tmp:
            started = time.perf_counter()
            db = connect(LanceSettings(location=str(Path(tmp)), prefix="t"), S3Settings())
            store = SegmentStore(db, model.dimension)
            passages = store_episodes(shifts, store, model, segment)
            built = time.perf_counter() - started
            port: TextEmbedder = _Shared(model)
            settings = SearchSettings()
            engine = SearchEngine(db, port, settings)
            quality = asyncio.run(measure(shifts, engine, TopicPlanner(engine, settings), passages))
            _print(name, args.half, quality, built, time.perf_counter() - started - built)
            if args.per_topic:
                for topic, precision, recall in quality.per_topic:
                    print(f"    {precision:5.2f} {recall:5.2f}  {topic}")


def _print(name: str, half: str, q: TopicQuality, built: float, measured: float) -> None:
    print(
        f"{name:<7} {half}: {q.passages} passages (mean {q.mean_passage_s:.0f} s)  "
        f"time precision {q.time_precision:.3f}  section recall {q.section_recall:.3f}  "
        f"nDCG@10 {q.ndcg_at_10:.3f}  off-catalog {q.off_catalog_s:.0f} s  "
        f"[built {built:.1f} s, measured {measured:.1f} s]"
    )


if __name__ == "__main__":
    main()
