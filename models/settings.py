"""Settings of the ML models (part of :class:`tellmemore.settings.Settings`, under ``models``):
which model each stage loads, on what device, and with which limits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator


class WhisperSettings(BaseModel):
    """Speech recognition (faster-whisper / CTranslate2)."""

    # "tiny.en" (packaged, default), "base" (assembled by `tmm models prepare`), a folder, an
    # artifact URI s3://<bucket>/models/<name>/<digest> (`tmm models publish`; production), or
    # a model-hub name where a hub is reachable.
    model: str = "tiny.en"
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: int = Field(default=5, ge=1, le=20)
    batch_size: int = Field(default=1, ge=1, le=64)  # >1 uses faster-whisper's batched pipeline
    cpu_threads: int = Field(default=0, ge=0)  # 0: CTranslate2 decides
    vad: bool = True
    # Speech kept around what the VAD detects. Its default (400 ms) clipped word onsets at the
    # start of pause-cut chunks (WER 7.0 % vs 1.4 % unchunked on the LibriVox test speech);
    # 1000 ms matched the unchunked transcript.
    vad_speech_pad_ms: int = Field(default=1000, ge=0, le=5000)
    # Long audio is cut at pauses into chunks of at most this long (parallel transcription).
    chunk_max_s: float = Field(default=300.0, gt=10)
    chunk_min_s: float = Field(default=60.0, gt=1)


class EmbedderSettings(BaseModel):
    """Sentence embeddings (sentence-transformers)."""

    # "all-MiniLM-L6-v2" (packaged, default), a folder, an artifact URI, or a hub name.
    model: str = "all-MiniLM-L6-v2"
    device: str = "cpu"
    batch_size: int = Field(default=32, ge=1, le=1024)
    # Some models want "query: " / "passage: " prefixes (e5); MiniLM wants none.
    query_prefix: str = ""
    passage_prefix: str = ""
    # Queries on a CPU through an ONNX export of the same model (same vectors, ~3x sooner for
    # one query; models/onnx_queries.py), or "torch" to keep them on PyTorch.
    query_runtime: Literal["onnx", "torch"] = "onnx"


class LLMSettings(BaseModel):
    """The summarizer's LLM: in-process vLLM for batch jobs, or any OpenAI-compatible endpoint."""

    # "smollm2-135m" (converted from the packaged GGUF by `tmm models prepare`), a folder, an
    # artifact URI (production: a 7-8B instruct model published with `tmm models publish`;
    # ray.serve.llm downloads it itself), or a hub name.
    model: str = "smollm2-135m"
    backend: Literal["vllm", "openai"] = "vllm"
    base_url: str = "http://127.0.0.1:8000/v1"  # for backend="openai"
    api_key: SecretStr = SecretStr("not-needed")
    served_model_name: str | None = None  # the name the endpoint knows the model by
    max_model_len: int = Field(default=4096, ge=512)
    max_output_tokens: int = Field(default=400, ge=32)
    temperature: float = Field(default=0.0, ge=0, le=2)
    timeout_s: float = Field(default=120.0, gt=0)
    # vLLM engine on CPU: an explicit KV cache (it refuses to start without one) and fp32.
    dtype: str = "float32"
    kv_cache_bytes: int = Field(default=256 * 2**20, gt=0)
    enforce_eager: bool = True


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tellmemore/models`` (else ``~/.cache/...``): absolute and node-local."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().absolute() / "tellmemore" / "models"


class ModelSettings(BaseModel):
    """The ML models and where prepared model files live."""

    dir: Path = Path(".local/models")
    # Where artifacts fetched from object storage are kept on each node (one download per node,
    # shared by its replicas and actors). Absolute: Ray workers do not share a working folder.
    cache_dir: Path = Field(default_factory=default_cache_dir)
    whisper: WhisperSettings = WhisperSettings()
    embedder: EmbedderSettings = EmbedderSettings()
    llm: LLMSettings = LLMSettings()
    allow_video: bool = False  # video enclosures are refused unless this is set

    @field_validator("cache_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        value = value.expanduser()
        if not value.is_absolute():
            raise ValueError(
                f"must be an absolute path (got {str(value)!r}): each Ray worker resolves a "
                "relative one against its own working folder"
            )
        return value
