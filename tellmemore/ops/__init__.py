"""Operations: backups and restores (``tmm backup``), the private local services for development
and tests (``tmm local``), and the demo podcast that ships with the app."""

from tellmemore.ops.backup.postgres import BackupError
from tellmemore.ops.backup.service import Backups
from tellmemore.ops.demo import render_demo_feed
from tellmemore.ops.demo.scripts import DEMO_SCRIPTS, DemoScript
from tellmemore.ops.local_services import (
    LocalServiceError,
    ensure_postgres,
    ensure_redis,
    ensure_s3,
    stop_private_postgres,
    stop_private_redis,
    stop_private_s3,
)

__all__ = [
    "DEMO_SCRIPTS",
    "BackupError",
    "Backups",
    "DemoScript",
    "LocalServiceError",
    "ensure_postgres",
    "ensure_redis",
    "ensure_s3",
    "render_demo_feed",
    "stop_private_postgres",
    "stop_private_redis",
    "stop_private_s3",
]
