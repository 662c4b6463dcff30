"""What a batch run does: its stages, the models they use, and the index it writes.

Stages run in a fixed order. A run names the ones it wants and the plan adds what they cannot
do without: new transcripts need audio and new passages; new passages or a new summary need
new vectors. Whatever a run does not redo is read from what is stored (the transcript from S3,
passages and summaries from the active search index), so ``--stages embed`` re-embeds without
touching audio and ``--stages transcribe,segment,embed`` keeps the summaries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from tellmemore.index import SearchIndex


class Stage(StrEnum):
    DOWNLOAD = "download"
    TRANSCRIBE = "transcribe"
    SEGMENT = "segment"
    SUMMARIZE = "summarize"
    EMBED = "embed"


ORDER = tuple(Stage)
ALL_STAGES = frozenset(Stage)

# stage -> the stages it cannot run without in the same run
_NEEDS: dict[Stage, tuple[Stage, ...]] = {
    Stage.DOWNLOAD: (Stage.TRANSCRIBE,),
    Stage.TRANSCRIBE: (Stage.DOWNLOAD, Stage.SEGMENT),
    Stage.SEGMENT: (Stage.EMBED,),
    Stage.SUMMARIZE: (Stage.EMBED,),
    Stage.EMBED: (),
}


class PlanError(ValueError):
    """A run that cannot be planned, with a sentence saying why."""


def parse_stages(text: str) -> frozenset[Stage]:
    """``"transcribe,segment,embed"`` or ``"all"`` -> the stages, closed under what they need."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise PlanError("Name at least one stage, or 'all'.")
    if names == ["all"]:
        return ALL_STAGES
    unknown = sorted(set(names) - {s.value for s in Stage})
    if unknown:
        raise PlanError(
            f"Unknown stage(s) {', '.join(unknown)}; choose from "
            f"{', '.join(s.value for s in Stage)} or 'all'."
        )
    chosen = {Stage(n) for n in names}
    pending = list(chosen)
    while pending:
        for needed in _NEEDS[pending.pop()]:
            if needed not in chosen:
                chosen.add(needed)
                pending.append(needed)
    return frozenset(chosen)


def ordered(stages: frozenset[Stage]) -> list[Stage]:
    return [s for s in ORDER if s in stages]


# What a new index may be built with: passages (re-cut from stored transcripts) and vectors.
NEW_INDEX_STAGES = frozenset({Stage.SEGMENT, Stage.EMBED})


@dataclass(frozen=True)
class TargetModels:
    """The ids of the models this run's stages would record (``kind:name@version``)."""

    transcript: str
    segmenter: str
    llm: str
    embedding: str


@dataclass(frozen=True)
class Plan:
    stages: frozenset[Stage]
    models: TargetModels
    source: SearchIndex  # the active index: stored passages and summaries are read from it
    target: SearchIndex  # where this run's passages and summaries are written

    @property
    def new_index(self) -> bool:
        """Re-embedding into another space, or re-cutting passages: a new index, activated
        only when complete."""
        return self.target.name != self.source.name

    @property
    def key(self) -> str:
        """Two runs with the same key produce the same outputs: a rerun resumes the first."""
        used = {
            "stages": [s.value for s in ordered(self.stages)],
            "target": self.target.name,
            "transcript": self.models.transcript if Stage.TRANSCRIBE in self.stages else None,
            "segmenter": self.models.segmenter if Stage.SEGMENT in self.stages else None,
            "llm": self.models.llm if Stage.SUMMARIZE in self.stages else None,
            "embedding": self.models.embedding,
        }
        digest = hashlib.sha256(json.dumps(used, sort_keys=True).encode()).hexdigest()
        return digest[:16]

    def check(self) -> None:
        """A new index is built from what the active one describes: re-embedded, or re-cut
        into passages from the stored transcripts and embedded; changing transcripts or
        summaries at the same time would leave the live index and the new one describing
        different episodes."""
        if self.new_index and not (Stage.EMBED in self.stages <= NEW_INDEX_STAGES):
            raise PlanError(
                f"These settings and stages make a new search index ({self.target.name}) "
                f"beside the active one ({self.source.name}). Build it with --stages embed "
                "(new embedding settings) or --stages segment,embed (new passages) first; "
                "reprocess content into the active index with the active embedding settings."
            )
