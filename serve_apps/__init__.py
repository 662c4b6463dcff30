"""Ray Serve deployments, one per file, composed by :mod:`serve_apps.builder`.

- :mod:`serve_apps.ingress`: the FastAPI app from ``api/`` as the HTTP ingress;
- :mod:`serve_apps.transcriber`: Whisper, one chunk of audio per call;
- :mod:`serve_apps.embedder`: sentence embeddings, batched with ``@serve.batch``;
- :mod:`serve_apps.llm`: the summarizer's LLM through ``ray.serve.llm`` (OpenAI-compatible);
- :mod:`serve_apps.processor`: takes episode jobs from the queue and runs them through the models.

These are thin adapters: the work is done by ``api/``, ``models/`` and ``tellmemore/``. The Serve
configs and the KubeRay manifests name ``serve_apps.builder:build_app`` and ``:build_llm_app``;
``tmm-serve`` is :mod:`serve_apps.local`.
"""

__all__ = ["builder", "local"]
