"""Ray Data backlog jobs (``tmm-batch``): ``Dataset -> Dataset`` stages over ``models/`` and the
domain package, run by :mod:`pipelines.run` and started from :mod:`pipelines.cli`.

Episode selection (``selection``), the stage plan (``plan``), fetching and inference stages,
idempotent writes and the run ledger each have their own module.
"""

__all__ = ["cli", "run"]
