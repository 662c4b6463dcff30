"""Search queries through ONNX Runtime: the same vectors as the sentence-transformers model,
three times sooner for one short text on a CPU.

A listener's query is one short text, and on a CPU PyTorch's per-call overhead dominates it:
all-MiniLM-L6-v2 takes ~17 ms per query in PyTorch and ~5.5 ms in ONNX Runtime on this
project's 2-core machines (``bench/search_http.py``), while batches of passages take the same
time in both. So only queries go this way; passages stay on PyTorch.

The graph is exported from the loaded PyTorch model itself (no second download), once per
model, in the user's cache (``~/.cache/tellmemore/onnx/``); a replica that finds it reuses it. It is
used only where it reproduces the model exactly: a transformer followed by mean pooling (and
normalisation), checked on a probe text at load. Anything else (CLS pooling, extra dense
layers, a GPU, no ``onnx`` package to export with) keeps PyTorch, and says why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.errors import ModelError
from models.registry import folder_digest

log = logging.getLogger(__name__)

_PROBE = "An ONNX export check: the origins of bebop in 1940s New York."
_TOLERANCE = 1e-4
_FILE = "tmm-queries.onnx"


class OnnxQueries:
    """Unit-length mean-pooled vectors of ``texts`` from an ONNX export of ``model``'s
    transformer; build with :func:`onnx_queries`."""

    def __init__(self, model: Any, session: Any, max_length: int) -> None:
        self._tokenizer = model.tokenizer
        self._session = session
        self._inputs = [i.name for i in session.get_inputs()]
        self._max_length = max_length

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        tokens = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_length,
            return_tensors="np",
        )  # fmt: skip
        feed = {name: np.asarray(tokens[name], dtype=np.int64) for name in self._inputs}
        hidden = self._session.run(None, feed)[0]
        mask = np.asarray(tokens["attention_mask"], dtype=np.float32)[..., None]
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(pooled / norms, dtype=np.float32)


def onnx_queries(model: Any, folder: str, device: str) -> OnnxQueries | None:
    """An ONNX Runtime encoder equal to ``model`` (a loaded ``SentenceTransformer`` from
    ``folder``) on queries, or None where it cannot be one (logged with the reason)."""
    why = _unsupported(model, device)
    if why:
        log.info("queries embedded with PyTorch: %s", why)
        return None
    try:
        import onnxruntime
    except ImportError:
        log.info("queries embedded with PyTorch: onnxruntime is not installed")
        return None
    path = _exported(model, folder)
    if path is None:
        return None
    options = onnxruntime.SessionOptions()
    # One thread: a query is too small to split, and the other core serves the next request.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        encoder = OnnxQueries(model, session, int(model.max_seq_length))
        got = encoder.encode([_PROBE])
    except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
        raise ModelError(
            f"The ONNX export at {path} does not load ({exc}); delete it to export it again.",
            code="model_unavailable",
        ) from exc
    expected = model.encode(
        [_PROBE], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    difference = float(np.abs(got - expected).max())
    if difference > _TOLERANCE:
        raise ModelError(
            f"The ONNX export at {path} differs from the model by {difference:.2g}; delete it "
            "to export it again.",
            code="model_unavailable",
        )
    return encoder


def _exported(model: Any, folder: str) -> Path | None:
    """The export's path in the user's cache, exported there first if missing. Never inside
    the model's folder: its files are the model's id (``folder_digest``), which records what
    made every stored vector; the cache entry is keyed by that id, so new weights export anew."""
    key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = cache / "tellmemore" / "onnx" / f"{key}-{folder_digest(folder)}" / _FILE
    if path.exists():
        return path
    try:
        _export(model, path)
    except ImportError as exc:  # no onnx package to export with
        log.info("queries embedded with PyTorch: %s", exc)
        return None
    except (OSError, RuntimeError) as exc:  # no writable cache, an export torch refused
        log.info("queries embedded with PyTorch: no ONNX export (%s)", exc)
        return None
    return path


def _unsupported(model: Any, device: str) -> str | None:
    if device != "cpu":
        return f"device {device!r} (ONNX Runtime is used on CPUs only)"
    modules = [type(m).__name__ for m in model]
    if modules[:2] != ["Transformer", "Pooling"] or set(modules[2:]) - {"Normalize"}:
        return f"modules {modules} (only a transformer with pooling is exported)"
    mode = model[1].get_config_dict().get("pooling_mode")
    if mode != "mean":
        return f"pooling {mode!r} (only mean pooling is exported)"
    return None


def _export(model: Any, path: Path) -> None:
    """The transformer to ``path`` with dynamic batch and length; written to a temp file and
    renamed, so replicas exporting at once never read half a file."""
    import torch

    transformer = model[0].auto_model.eval()
    sample = model.tokenizer(["hello world"], return_tensors="pt")
    names = list(sample.keys())

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.part")
    os.close(handle)
    try:
        axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
        # The tracer warns about shape checks it freezes; the probe at load checks the result.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(), tuple(sample[n] for n in names), temp, input_names=names,
                output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                dynamo=False,
            )  # fmt: skip
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide it from replicas of other users
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)
