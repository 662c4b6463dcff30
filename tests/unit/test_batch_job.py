"""The KubeRay RayJob runs the batch pipeline's own entry point with arguments it accepts, and
its environment names only settings that exist; plan and row helpers of the pipeline."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from models.settings import EmbedderSettings
from models.types import ModelRef, RetrievalSegment
from pipelines.cli import app
from pipelines.plan import ALL_STAGES, Plan, PlanError, Stage, TargetModels, parse_stages
from pipelines.rows import Item, from_table, segments_from_json, segments_to_json, to_table
from serve_apps import strict_yaml
from tellmemore.index import index_for, resegmented
from tellmemore.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
JOB = ROOT / "cluster" / "base" / "rayjob-backfill.yaml"


def _job() -> dict[str, Any]:
    loaded: dict[str, Any] = strict_yaml.load_file(JOB)
    return loaded


def test_the_rayjob_runs_tmm_batch_with_arguments_it_accepts() -> None:
    job = _job()
    spec = job["spec"]
    assert job["kind"] == "RayJob" and spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] > 0
    words = shlex.split(spec["entrypoint"])
    assert words[:2] == ["tmm-batch", "run"]
    command = get_command(app)
    with command.make_context("tmm-batch", words[1:], resilient_parsing=False) as ctx:
        sub = command.get_command(ctx, "run")  # type: ignore[attr-defined]
        assert sub is not None
        sub.make_context("run", words[2:], parent=ctx)
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    gpu = [g for g in spec["rayClusterSpec"]["workerGroupSpecs"] if g["groupName"] == "gpu-spot"]
    assert gpu and gpu[0]["minReplicas"] == 0


def test_the_rayjob_environment_is_valid_settings() -> None:
    head = _job()["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in head["containers"][0]["env"]
           if e["name"].startswith("TMM_")}  # fmt: skip
    settings = Settings(_env_file=None, **_nested(env), auth={"jwt_secret": "x" * 40})
    assert settings.batch.transcribe_gpus == 1 and settings.batch.embed_gpus == 0
    assert settings.environment == "production"


def _nested(env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in env.items():
        assert name.startswith("TMM_"), name
        *parents, leaf = name[4:].lower().split("__")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def test_stages_are_closed_under_what_they_need() -> None:
    assert parse_stages("all") == ALL_STAGES
    assert parse_stages("download") == {Stage.DOWNLOAD, Stage.TRANSCRIBE, Stage.SEGMENT,
                                        Stage.EMBED}  # fmt: skip
    assert parse_stages(" Embed ") == {Stage.EMBED}
    for bad in ("", "transcode", "embed,nope"):
        with pytest.raises(PlanError):
            parse_stages(bad)


def _plan(stages: str, target: EmbedderSettings) -> Plan:
    models = TargetModels("asr:w@1", "segmenter:s@1", "llm:l@1", "embedding:e@1")
    return Plan(parse_stages(stages), models, index_for(EmbedderSettings()), index_for(target))


def test_a_new_index_is_built_by_reembedding_or_recutting_only() -> None:
    other = EmbedderSettings(passage_prefix="passage: ")
    _plan("embed", other).check()
    _plan("segment,embed", other).check()  # new passages from the stored transcripts
    for stages in ("all", "summarize,embed", "transcribe"):
        with pytest.raises(PlanError, match="--stages segment,embed"):
            _plan(stages, other).check()
    same = _plan("all", EmbedderSettings())
    same.check()
    assert not same.new_index and _plan("embed", other).new_index
    # The key names what the run produces: the same command resumes, another does not.
    assert (
        same.key == _plan("all", EmbedderSettings()).key != _plan("embed", EmbedderSettings()).key
    )


def test_a_recut_version_of_an_index_is_named_by_its_segmenter() -> None:
    live = index_for(EmbedderSettings())
    version = resegmented(live, "segmenter:topic-tiling@2")
    assert version.name.startswith("default_s") and version.embedder == live.embedder
    assert version.segments_table == f"segments__{version.name}"
    # Re-cutting a version names the next one from the base, never stacking suffixes.
    assert resegmented(version, "segmenter:topic-tiling@2") == version
    again = resegmented(version, "segmenter:topic-tiling@3")
    assert again.name.count("_s") == 1 and again.name != version.name


def test_rows_round_trip_through_arrow() -> None:
    ref = ModelRef("segmenter", "sentence-window", "1-45-75-120")
    source = ModelRef("asr", "whisper-tiny.en", "abc")
    passages = [RetrievalSegment("e:00000", "e", 0, 0.0, 61.5, "Hello there.", ref, source)]
    item = Item("e", "p", "T", "P", None, "", "[]", "en", "", segments=segments_to_json(passages),
                vectors=b"\x00" * 8, dimension=2)  # fmt: skip
    back = from_table(to_table([item]))
    assert back == [item]
    assert segments_from_json(back[0].segments) == passages
