"""Whisper as a deployment: one chunk of audio per call, so a long episode's chunks spread
over every replica (GPU replicas in production, ``num_gpus`` from the builder)."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
from ray import serve

from models.types import Transcript
from models.whisper import WhisperTranscriber
from tellmemore.settings import Settings
from tellmemore.storage import model_artifacts


@serve.deployment(name="Transcriber")
class Transcriber:
    def __init__(self, settings: Settings) -> None:
        # An artifact URI setting is fetched into this node's cache (once per node) first.
        self._model = WhisperTranscriber(
            settings.models.whisper,
            settings.models.dir,
            artifacts=model_artifacts(settings.s3, settings.models),
        )
        # One decode at a time per replica: CTranslate2 already uses every core it is given.
        self._lock = asyncio.Lock()

    async def transcribe(
        self, samples: npt.NDArray[np.float32], offset_s: float, language: str | None = None
    ) -> Transcript:
        async with self._lock:
            return await asyncio.to_thread(
                self._model.transcribe_samples, samples, offset_s=offset_s, language=language
            )

    def model_id(self) -> str:
        return self._model.model.id
