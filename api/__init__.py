"""The HTTP API: plain FastAPI (no Ray), built by :func:`api.app.create_app` from settings."""

from api.app import create_app

__all__ = ["create_app"]
