"""The research topic map on real all-MiniLM-L6-v2 embeddings: three unmistakable subjects
spread over three shows must come back as three clean, well-named clusters.

It sits with the model tests because it loads the real embedder (the session's ``embedder``
fixture); a map of random vectors would pass while saying nothing about real passages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from models.embedder import Embedder
from tellmemore.research import TopicMap, topic_map

BAKING = [
    "Sourdough bread rises because wild yeast in the starter ferments the dough overnight.",
    "Feed your starter with equal weights of flour and water and it will double in hours.",
    "A long cold proof in the fridge gives the loaf a tangy crumb and a blistered crust.",
    "Score the dough with a razor before it goes into the hot Dutch oven to bake.",
    "Whole wheat flour absorbs more water, so raise the hydration of the bread dough.",
    "Stretch and fold the dough every half hour to build gluten without kneading.",
    "Bake the loaf with the lid on for steam, then uncover it so the crust browns.",
    "If your bread comes out dense, the starter was probably not active enough.",
    "Rye flour makes a sticky dough and a heavy, sour, deeply flavoured loaf of bread.",
    "Let the baked bread cool completely before slicing or the crumb turns gummy.",
]
INVESTING = [
    "Index funds let you own the whole stock market for a tiny annual fee.",
    "When interest rates rise, stock prices and bond prices often fall together.",
    "Diversify your portfolio so one company's shares cannot sink your savings.",
    "The market crashed on the earnings report and investors sold their stocks.",
    "Dividends paid by blue chip stocks can be reinvested to compound your returns.",
    "Trying to time the stock market usually loses to simply buying and holding.",
    "A price to earnings ratio tells investors how expensive a company's shares are.",
    "Bear markets are scary, but investors who kept buying stocks recovered their losses.",
]
FOOTBALL = [
    "The striker scored a late goal and the football team won the league title.",
    "The goalkeeper saved a penalty kick in the final minute of the match.",
    "Their football coach switched to a back three formation at half time.",
    "The referee showed a red card after a dangerous tackle in the penalty area.",
    "The midfielder curled a free kick into the top corner for a stunning goal.",
    "Fans sang in the stadium as their football club reached the cup final.",
]
TOPICS = {"baking": BAKING, "investing": INVESTING, "football": FOOTBALL}
TOPIC_WORDS = {
    "baking": {"bread", "dough", "starter", "loaf", "flour", "crust", "sourdough", "bake"},
    "investing": {"stock", "stocks", "market", "investors", "shares", "prices", "portfolio"},
    "football": {"football", "goal", "penalty", "match", "striker", "club", "kick", "team"},
}
# Every show talks about every subject, so a cluster must not simply follow the show.
PODCASTS = ["Morning Miscellany", "The Long Table", "Weekend Chat"]


@pytest.fixture(scope="module")
def segments(embedder: Embedder) -> pd.DataFrame:
    rows = [(topic, text) for topic, texts in TOPICS.items() for text in texts]
    vectors = embedder.embed_passages([text for _, text in rows]).vectors
    return pd.DataFrame(
        {
            "id": [f"seg-{i:02d}" for i in range(len(rows))],
            "text": [text for _, text in rows],
            "vector": list(vectors),
            "podcast_title": [PODCASTS[i % 3] for i in range(len(rows))],
            "episode_title": [f"Episode {i // 3}" for i in range(len(rows))],
            "topic": [topic for topic, _ in rows],  # extra columns are ignored
        }
    )


@pytest.fixture(scope="module")
def result(segments: pd.DataFrame) -> TopicMap:
    return topic_map(segments, clusters=3, top_terms=8, seed=0)


def _cluster_of(segments: pd.DataFrame, result: TopicMap) -> dict[str, int]:
    """Each topic's single cluster number (asserting purity on the way)."""
    joined = result.points.merge(segments[["id", "topic"]], on="id")
    found = {}
    for topic, group in joined.groupby("topic"):
        assert group["cluster"].nunique() == 1, f"{topic} is split: {group['cluster'].tolist()}"
        found[str(topic)] = int(group["cluster"].iloc[0])
    return found


def test_each_topic_is_one_cluster_numbered_by_size(
    segments: pd.DataFrame, result: TopicMap
) -> None:
    assert _cluster_of(segments, result) == {"baking": 0, "investing": 1, "football": 2}
    assert result.clusters["cluster"].tolist() == [0, 1, 2]
    assert result.clusters["size"].tolist() == [10, 8, 6]
    assert result.clusters["size"].sum() == len(segments)
    assert result.clusters["podcasts"].tolist() == [3, 3, 3]


def test_top_terms_name_the_topic(segments: pd.DataFrame, result: TopicMap) -> None:
    terms = dict(zip(result.clusters["cluster"], result.clusters["top_terms"], strict=True))
    for topic, cluster in _cluster_of(segments, result).items():
        assert 0 < len(terms[cluster]) <= 8
        assert all(isinstance(term, str) and len(term) >= 3 for term in terms[cluster])
        assert TOPIC_WORDS[topic] & set(terms[cluster]), f"{topic}: {terms[cluster]}"


def test_example_is_a_member_of_its_cluster(result: TopicMap) -> None:
    for row in result.clusters.itertuples():
        members = result.points.loc[result.points["cluster"] == row.cluster, "text"].tolist()
        assert row.example in members
        assert len(row.example) <= 200


def test_points_and_quality(segments: pd.DataFrame, result: TopicMap) -> None:
    points = result.points
    assert list(points.columns) == [
        "id", "x", "y", "cluster", "podcast_title", "episode_title", "text",
    ]  # fmt: skip
    assert points["id"].tolist() == segments["id"].tolist()
    assert np.isfinite(points[["x", "y"]].to_numpy()).all()
    assert set(points["cluster"]) == set(result.clusters["cluster"])
    assert points["cluster"].value_counts().sort_index().tolist() == [10, 8, 6]
    assert result.silhouette > 0.1


def test_same_seed_same_map(segments: pd.DataFrame, result: TopicMap) -> None:
    again = topic_map(segments.copy(), clusters=3, top_terms=8, seed=0)
    pd.testing.assert_frame_equal(again.clusters, result.clusters)
    pd.testing.assert_frame_equal(again.points, result.points)
    assert again.silhouette == result.silhouette


def _tiny(count: int) -> pd.DataFrame:
    vectors = np.random.default_rng(0).normal(size=(count, 4)).astype(np.float32)
    return pd.DataFrame(
        {
            "id": [str(i) for i in range(count)],
            "text": ["some words here"] * count,
            "vector": list(vectors),
            "podcast_title": ["P"] * count,
            "episode_title": ["E"] * count,
        }
    )


def test_refuses_fewer_passages_than_clusters() -> None:
    with pytest.raises(ValueError, match=r"fewer passages \(2\) than clusters \(3\)"):
        topic_map(_tiny(2), clusters=3)


def test_refuses_fewer_than_two_clusters() -> None:
    with pytest.raises(ValueError, match="at least 2 clusters"):
        topic_map(_tiny(5), clusters=1)


def test_refuses_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"missing required column.*podcast_title"):
        topic_map(_tiny(5).drop(columns=["podcast_title"]), clusters=2)


def test_refuses_mixed_vector_lengths() -> None:
    segments = _tiny(5)
    segments.at[3, "vector"] = np.zeros(7, dtype=np.float32)
    with pytest.raises(ValueError, match="differing lengths"):
        topic_map(segments, clusters=2)
