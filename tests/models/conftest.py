"""The real models, loaded once per session (offline), and real speech to feed them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from models import audio
from models.embedder import Embedder
from models.prepare import prepare_smollm2
from models.settings import EmbedderSettings, LLMSettings, WhisperSettings
from models.whisper import WhisperTranscriber
from tests.support.audio_files import encode, librivox

ROOT = Path(__file__).resolve().parent.parent.parent
MODELS_DIR = Path(os.environ.get("TMM_MODELS__DIR", ROOT / ".local" / "models"))


@pytest.fixture(scope="session", autouse=True)
def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def transcriber() -> WhisperTranscriber:
    return WhisperTranscriber(WhisperSettings(), MODELS_DIR)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(EmbedderSettings())


@pytest.fixture(scope="session")
def llm_settings() -> LLMSettings:
    prepare_smollm2(MODELS_DIR)
    return LLMSettings(max_model_len=2048)


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The five LibriVox clips joined with pauses (~30 s), as wav, mp3, ogg/opus and m4a."""
    folder = tmp_path_factory.mktemp("speech")
    pause = np.zeros(int(1.2 * audio.SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for wav, _ in librivox():
        pieces += [audio.decode(wav), pause]
    joined = np.concatenate(pieces)
    return {
        "wav": encode(joined, folder / "speech.wav", "pcm_s16le"),
        "mp3": encode(joined, folder / "speech.mp3", "libmp3lame"),
        "ogg": encode(joined, folder / "speech.ogg", "libopus"),
        "m4a": encode(joined, folder / "speech.m4a", "aac"),
        "long": encode(np.concatenate([joined, joined]), folder / "long.wav", "pcm_s16le"),
    }


@pytest.fixture(scope="session")
def reference_text() -> str:
    return " ".join(text for _, text in librivox())
