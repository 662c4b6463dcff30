"""Ray Serve deployments (one per file) and the one builder that composes them.

Adapters only: the ingress wraps ``api/``'s FastAPI app and the model deployments wrap
``models/``. Arrives with the online-system work; nothing here yet.
"""
