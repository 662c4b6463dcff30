"""The HTTP API: plain FastAPI (no Ray), built by :func:`api.app.create_app` from settings."""
