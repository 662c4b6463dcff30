"""The pipeline's stages as ``Dataset -> Dataset`` functions, composed by :func:`build`.

Download and segmenting are Ray tasks; Whisper, the LLM and the embedder are callable classes
run as actor pools (models load once per actor; ``num_gpus`` from ``settings.batch`` puts them
on GPU workers); the writer is a small actor pool holding its connections. Every stage keeps
the row schema of :mod:`pipelines.rows`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ray.data import ActorPoolStrategy

from pipelines.fetch import download_block
from pipelines.inference import Embed, Segment, Summarize, Transcribe
from pipelines.plan import Plan, Stage
from pipelines.stored import load_stored_block
from pipelines.write import Write
from tellmemore.settings import Settings

if TYPE_CHECKING:
    from ray.data import Dataset

FORMAT = "pyarrow"


def download(ds: Dataset, settings: Settings) -> Dataset:
    return ds.map_batches(
        functools.partial(download_block, settings=settings),
        batch_format=FORMAT,
        batch_size=None,
        concurrency=settings.batch.download_concurrency,
        num_cpus=0.25,  # waits on the network, not the CPU
    )


def transcribe(ds: Dataset, settings: Settings) -> Dataset:
    b = settings.batch
    return ds.map_batches(
        Transcribe,
        fn_constructor_kwargs={"settings": settings},
        batch_format=FORMAT,
        # A block's episodes in one call. Ray Data wants an explicit size wherever GPUs are
        # asked for (it refuses batch_size=None then), and a block holds this many.
        batch_size=b.episodes_per_block,
        compute=ActorPoolStrategy(size=b.transcribe_actors),
        num_gpus=b.transcribe_gpus,
        num_cpus=b.transcribe_cpus,
    )


def segment(ds: Dataset, settings: Settings) -> Dataset:
    b = settings.batch
    return ds.map_batches(  # the sentence embedder loads once per actor, as the embed stage's
        Segment,
        fn_constructor_kwargs={"settings": settings},
        batch_format=FORMAT,
        # A block's episodes in one call; an explicit size because the embedder may ask for a
        # GPU share, and Ray Data refuses batch_size=None then.
        batch_size=b.episodes_per_block,
        compute=ActorPoolStrategy(size=b.embed_actors),
        num_gpus=b.embed_gpus,
        num_cpus=b.embed_cpus,
    )


def load_stored(ds: Dataset, settings: Settings, plan: Plan) -> Dataset:
    return ds.map_batches(
        functools.partial(
            load_stored_block,
            settings=settings,
            source=plan.source,
            passages=Stage.SEGMENT not in plan.stages,
            summaries=Stage.SUMMARIZE not in plan.stages,
        ),
        batch_format=FORMAT,
        batch_size=None,
    )


def summarize(ds: Dataset, settings: Settings) -> Dataset:
    b = settings.batch
    return ds.map_batches(
        Summarize,
        fn_constructor_kwargs={"settings": settings},
        batch_format=FORMAT,
        # A block's episodes in one call. Ray Data wants an explicit size wherever GPUs are
        # asked for (it refuses batch_size=None then), and a block holds this many.
        batch_size=b.episodes_per_block,
        compute=ActorPoolStrategy(size=b.summarize_actors),
        num_gpus=b.summarize_gpus,
        num_cpus=b.summarize_cpus,
    )


def embed(ds: Dataset, settings: Settings, plan: Plan) -> Dataset:
    b = settings.batch
    return ds.map_batches(
        Embed,
        fn_constructor_kwargs={"settings": settings, "target": plan.target},
        batch_format=FORMAT,
        batch_size=b.embed_batch_episodes,
        compute=ActorPoolStrategy(size=b.embed_actors),
        num_gpus=b.embed_gpus,
        num_cpus=b.embed_cpus,
    )


def write(ds: Dataset, settings: Settings, plan: Plan, run_id: str) -> Dataset:
    return ds.map_batches(
        Write,
        fn_constructor_kwargs={"settings": settings, "plan": plan, "run_id": run_id},
        batch_format=FORMAT,
        batch_size=None,
        compute=ActorPoolStrategy(size=settings.batch.write_actors),
        num_cpus=0.5,
    )


def build(ds: Dataset, settings: Settings, plan: Plan, run_id: str) -> Dataset:
    """The plan's stages in order, then the write."""
    if Stage.DOWNLOAD in plan.stages:
        ds = download(ds, settings)
    if Stage.TRANSCRIBE in plan.stages:
        ds = transcribe(ds, settings)
    if Stage.SEGMENT in plan.stages:
        ds = segment(ds, settings)
    if Stage.SEGMENT not in plan.stages or Stage.SUMMARIZE not in plan.stages:
        ds = load_stored(ds, settings, plan)
    if Stage.SUMMARIZE in plan.stages:
        ds = summarize(ds, settings)
    ds = embed(ds, settings, plan)
    return write(ds, settings, plan, run_id)
