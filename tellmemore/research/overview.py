"""Catalog overviews a notebook shows as tables or plots: processing status per podcast and how
long the transcripts are. Small, but kept here so notebooks stay free of logic and the numbers
are the same wherever they are shown."""

from __future__ import annotations

import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the environment

STATUSES = ("new", "queued", "processing", "done", "failed")


def status_by_podcast(episodes: pd.DataFrame) -> pd.DataFrame:
    """Episodes per podcast and processing status (every status a column, zeros included)."""
    if episodes.empty:
        return pd.DataFrame(columns=list(STATUSES))
    table = episodes.pivot_table(index="podcast_title", columns="status", values="episode_id",
                                 aggfunc="count", fill_value=0)  # fmt: skip
    return table.reindex(columns=list(STATUSES), fill_value=0).astype(int)


def transcript_lengths(segments: pd.DataFrame) -> pd.DataFrame:
    """Per episode: passages, words and minutes of transcribed speech (from the passages)."""
    if segments.empty:
        return pd.DataFrame(columns=["episode_id", "podcast_title", "episode_title",
                                     "passages", "words", "minutes"])  # fmt: skip
    frame = segments.assign(
        words=segments["text"].str.split().str.len(),
        seconds=segments["end_s"] - segments["start_s"],
    )
    grouped = frame.groupby(["episode_id", "podcast_title", "episode_title"], as_index=False)
    lengths = grouped.agg(passages=("text", "size"), words=("words", "sum"),
                          seconds=("seconds", "sum"))  # fmt: skip
    lengths["minutes"] = lengths.pop("seconds") / 60.0
    return lengths.sort_values(["podcast_title", "episode_title"]).reset_index(drop=True)
