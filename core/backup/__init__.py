"""Backups and restores of the whole catalog: PostgreSQL, the LanceDB tables, and the S3 layout
they describe (``tmm backup``). See :mod:`core.backup.service` for the order that keeps a
backup consistent."""
