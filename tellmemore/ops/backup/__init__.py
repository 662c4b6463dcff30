"""Backups and restores of the whole catalog: PostgreSQL, the LanceDB tables, and the S3 layout
they describe (``tmm backup``). See :mod:`tellmemore.ops.backup.service` for the order that keeps a
backup consistent."""

__all__ = ["lance_snapshots", "manifest", "postgres", "service"]
