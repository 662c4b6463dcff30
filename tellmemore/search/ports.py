"""What search needs from the embedding model: vectors for a query and for short texts.

The Serve ingress passes the embedder deployment behind this; plain uvicorn, a notebook or a
benchmark passes the in-process model. Rows are unit length (cosine = dot product). Calls name
the embedding space of the index being searched, so readers follow a switch-over to an index
built with another model (see ``tellmemore.index.spaces``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from models.settings import EmbedderSettings
from tellmemore.errors import CatalogError, ErrorKind

Vectors = npt.NDArray[np.float32]


class TextEmbedder(Protocol):
    @property
    def model_id(self) -> str:
        """The embedding model's id, as stored in the tables' ``embedding_model`` column."""
        ...

    async def embed_queries(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vectors:
        """Query vectors in ``space`` (model and prefixes; None: the embedder's own)."""
        ...

    async def embed_passages(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vectors: ...


class NoTextEmbedder:
    """Stands where no embedding model was given (CLI commands that never search): search
    answers that it is unavailable rather than loading a model nobody asked for."""

    @property
    def model_id(self) -> str:
        return "none"

    async def embed_queries(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vectors:
        raise _unavailable()

    async def embed_passages(
        self, texts: Sequence[str], space: EmbedderSettings | None = None
    ) -> Vectors:
        raise _unavailable()


def _unavailable() -> Exception:
    return CatalogError(
        "search_unavailable",
        "Search is not available here: no embedding model is loaded.",
        ErrorKind.UNAVAILABLE,
    )
