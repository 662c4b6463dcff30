"""A topic map of podcast passages: which subjects the catalogue covers, how big each is, and
where its passages sit, from the embeddings search already made.

It lives here, not in a notebook, so the clustering choices are written once, typed and tested,
and every notebook (and export) that draws the map draws the same one for the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]
from sklearn.cluster import KMeans  # type: ignore[import-untyped]
from sklearn.decomposition import PCA  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
from sklearn.metrics import silhouette_score  # type: ignore[import-untyped]

REQUIRED_COLUMNS = ("id", "text", "vector", "podcast_title", "episode_title")
EXAMPLE_CHARS = 200
# Words of three letters or more: digits, "ok", "uh" and timestamps say nothing about a topic.
_WORDS = r"(?u)\b[^\W\d_]{3,}\b"


@dataclass(frozen=True)
class TopicMap:
    """Clusters numbered 0..k-1 from the largest down, so "cluster 0" means the same thing in a
    table, a plot legend and ``points`` (which carry the same numbers)."""

    clusters: pd.DataFrame  # cluster, size, top_terms, podcasts, example
    points: pd.DataFrame  # id, x, y, cluster, podcast_title, episode_title, text
    silhouette: float  # cosine; NaN when undefined (as many clusters as passages)


def topic_map(
    segments: pd.DataFrame, *, clusters: int = 8, top_terms: int = 8, seed: int = 0
) -> TopicMap:
    """Cluster passages by meaning and name each cluster by its words.

    Vectors are L2-normalised first so KMeans' Euclidean distance ranks like the cosine
    similarity search uses. Terms come from class-based TF-IDF (each cluster's texts as one
    document) so a word common to every cluster, like a show's sign-off, counts for less than
    the words particular to one."""
    matrix = _validated_matrix(segments, clusters)
    rows = segments.reset_index(drop=True)
    kmeans = KMeans(n_clusters=clusters, random_state=seed, n_init=10)
    raw: npt.NDArray[np.int64] = np.asarray(kmeans.fit_predict(matrix), dtype=np.int64)
    distances: npt.NDArray[np.float64] = np.asarray(kmeans.transform(matrix), dtype=np.float64)

    # Largest first; ties keep KMeans' order so a fixed seed always numbers them alike.
    found, counts = np.unique(raw, return_counts=True)
    order = [int(found[i]) for i in np.argsort(-counts, kind="stable")]
    renumber = {old: new for new, old in enumerate(order)}
    labels = np.array([renumber[int(label)] for label in raw], dtype=np.int64)

    texts = [str(text) for text in rows["text"]]
    members_of = [np.flatnonzero(labels == c) for c in range(len(order))]
    terms = _top_terms([" ".join(texts[i] for i in members) for members in members_of], top_terms)
    table = []
    for new, (old, members) in enumerate(zip(order, members_of, strict=True)):
        central = int(members[np.argmin(distances[members, old])])
        table.append(
            {
                "cluster": new,
                "size": len(members),
                "top_terms": terms[new],
                "podcasts": int(rows["podcast_title"].iloc[members].nunique()),
                "example": _truncate(texts[central]),
            }
        )

    xy = PCA(n_components=2, random_state=seed).fit_transform(matrix)
    points = pd.DataFrame(
        {
            "id": rows["id"].astype(str),
            "x": xy[:, 0].astype(np.float64),
            "y": xy[:, 1].astype(np.float64),
            "cluster": labels,
            "podcast_title": rows["podcast_title"],
            "episode_title": rows["episode_title"],
            "text": texts,
        }
    )
    return TopicMap(pd.DataFrame(table), points, _silhouette(matrix, labels))


def _validated_matrix(segments: pd.DataFrame, clusters: int) -> npt.NDArray[np.float64]:
    """Refuse, in words a notebook user can act on, what would otherwise fail deep in sklearn
    or, worse, quietly draw a meaningless map."""
    missing = [name for name in REQUIRED_COLUMNS if name not in segments.columns]
    if missing:
        raise ValueError(f"segments is missing required column(s): {', '.join(missing)}.")
    if clusters < 2:
        raise ValueError(f"A topic map needs at least 2 clusters; got {clusters}.")
    if len(segments) < clusters:
        raise ValueError(
            f"There are fewer passages ({len(segments)}) than clusters ({clusters}); "
            "ask for fewer clusters."
        )
    lengths = sorted({len(vector) for vector in segments["vector"]})
    if len(lengths) > 1:
        raise ValueError(
            f"The vectors have differing lengths {lengths}; they must come from one embedding "
            "model."
        )
    if lengths[0] < 2:
        raise ValueError("The vectors need at least 2 dimensions to be projected onto a plane.")
    matrix = np.vstack([np.asarray(v, dtype=np.float64) for v in segments["vector"]])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.maximum(norms, 1e-12), dtype=np.float64)


def _top_terms(documents: Sequence[str], count: int) -> list[list[str]]:
    """The highest-scoring terms of each cluster's document; none when no text has a word."""
    vectorizer = TfidfVectorizer(stop_words="english", ngram_range=(1, 1), token_pattern=_WORDS)
    try:
        scores = vectorizer.fit_transform(documents).toarray()
    except ValueError:  # empty vocabulary: only stop words, numbers or short words
        return [[] for _ in documents]
    vocabulary = vectorizer.get_feature_names_out()
    return [
        [str(vocabulary[i]) for i in np.argsort(-row, kind="stable")[:count] if row[i] > 0]
        for row in scores
    ]


def _silhouette(matrix: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    """Cosine, to match the space search ranks in; sklearn defines it only for 2..n-1 labels."""
    if not 2 <= len(np.unique(labels)) <= len(labels) - 1:
        return float("nan")
    return float(silhouette_score(matrix, labels, metric="cosine"))


def _truncate(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1].rstrip() + "…"
