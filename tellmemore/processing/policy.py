"""The online processor's effective settings, recorded for batch runs to hold themselves to.

A batch run is a separate process with its own environment: started from a shell that lacks a
setting the server has (``TMM_FEEDS__ALLOW_PRIVATE_HOSTS``, say), it would fail every episode
the server processes fine, or fetch what the server refuses. So each processor replica records
the settings that decide what an episode may fetch or accept (non-secret, keyed by the
environment variable that sets each) in ``server_settings`` when it starts, with the model names
beside them; ``tmm-batch run`` compares its own before it starts and refuses on a policy
difference, naming the variable to set. Models may differ on purpose (a batch run is how
outputs are remade with new ones), so those are only shown.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from tellmemore.settings import Settings

ROLE = "processor"

# Setting path -> whether a batch run must match it (policy) or may differ (models).
_FIELDS: dict[tuple[str, ...], bool] = {
    ("feeds", "allow_private_hosts"): True,
    ("models", "allow_video"): True,
    ("processing", "prefer_publisher_transcript"): True,
    ("processing", "max_audio_bytes"): True,
    ("models", "whisper", "model"): False,
    ("models", "llm", "model"): False,
    ("models", "embedder", "model"): False,
}


def env_name(path: tuple[str, ...]) -> str:
    return "TMM_" + "__".join(path).upper()


_ENFORCED = frozenset(env_name(p) for p, enforced in _FIELDS.items() if enforced)


def effective(settings: Settings) -> dict[str, Any]:
    """The recorded settings, by environment variable name."""
    found: dict[str, Any] = {}
    for path in _FIELDS:
        value: Any = settings
        for part in path:
            value = getattr(value, part)
        found[env_name(path)] = value
    return found


@dataclass(frozen=True)
class Recorded:
    settings: dict[str, Any]
    host: str
    recorded_at: datetime


@dataclass(frozen=True)
class Difference:
    name: str  # the environment variable
    mine: Any
    server: Any
    enforced: bool

    def sentence(self) -> str:
        return f"{self.name}={env_value(self.server)} on the processor, {env_value(self.mine)} here"


async def record(conn: AsyncConnection[Any], settings: Settings, role: str = ROLE) -> None:
    """What this replica runs with, for batch runs to compare (the latest replica's wins)."""
    await conn.execute(
        "INSERT INTO server_settings (role, settings, host) VALUES (%s, %s, %s) "
        "ON CONFLICT (role) DO UPDATE SET settings = EXCLUDED.settings, host = EXCLUDED.host, "
        "recorded_at = now()",
        (role, Jsonb(effective(settings)), socket.gethostname()),
    )


def recorded(conn: psycopg.Connection[Any], role: str = ROLE) -> Recorded | None:
    row = conn.execute(
        "SELECT settings, host, recorded_at FROM server_settings WHERE role = %s", (role,)
    ).fetchone()
    return Recorded(row[0], row[1], row[2]) if row else None


def differences(settings: Settings, server: Recorded) -> list[Difference]:
    """Where ``settings`` differ from the recorded ones (settings the server did not record,
    from an older version, are not compared)."""
    mine = effective(settings)
    return [
        Difference(name, mine[name], value, name in _ENFORCED)
        for name, value in server.settings.items()
        if name in mine and mine[name] != value
    ]


def env_value(value: Any) -> str:
    """A value as the environment variable would spell it."""
    return str(value).lower() if isinstance(value, bool) else str(value)


__all__ = [
    "ROLE",
    "Difference",
    "Recorded",
    "differences",
    "effective",
    "env_value",
    "record",
    "recorded",
]
