"""The Ray plumbing that both adapters use: a private local cluster (:mod:`raykit.local`) and the
mirror of the application's metrics into Ray's (:mod:`raykit.metrics`).

Below ``serve_apps/`` and ``pipelines/``, which never import each other. The modules are not
imported here: :func:`raykit.local.set_ray_env` must run before anything imports Ray.
"""

__all__ = ["local", "metrics"]
