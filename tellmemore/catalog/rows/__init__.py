"""SQL for the catalog's tables: ``podcasts`` (and their past feed URLs) and ``episodes``."""

__all__ = ["episodes", "podcasts"]
