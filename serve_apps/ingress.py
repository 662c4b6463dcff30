"""The HTTP ingress: the FastAPI app from ``api/``, built inside each replica.

The app is built at replica start (``__serve_build_asgi_app__``) from the settings the builder
passed, so a replica opens its own database pool and Redis client in the app's lifespan, exactly
as under plain uvicorn. Its ``/llm/v1`` forwards to the LLM application (``llm_app``) by handle:
that application has no HTTP route of its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from api.app import create_app
from raykit.metrics import install as install_metrics
from serve_apps.handles import DeploymentTextEmbedder
from serve_apps.llm_client import AppLlm
from tellmemore.logs import configure_logging
from tellmemore.settings import Settings


@serve.deployment(name="Api")
@serve.ingress()
class ApiIngress:
    def __init__(
        self,
        settings: Settings,
        embedder: DeploymentHandle[Any] | None = None,
        processor: DeploymentHandle[Any] | None = None,
        llm_app: str | None = None,
    ) -> None:
        configure_logging(settings)
        install_metrics()
        self._settings = settings
        # Handles the routes will call (query embeddings for search); binding the processor
        # here is also what makes it part of this application.
        self.embedder = embedder
        self.processor = processor
        self._llm_app = llm_app

    def __serve_build_asgi_app__(self) -> FastAPI:
        embedder = None if self.embedder is None else DeploymentTextEmbedder(self.embedder)
        llm = None if self._llm_app is None else AppLlm(self._llm_app)
        return create_app(self._settings, text_embedder=embedder, llm_gateway=llm)
