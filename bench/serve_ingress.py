"""What Ray Serve costs the API: a catalog read route under plain uvicorn and as the Serve ingress.

    .venv/bin/python -m bench.serve_ingress            # plain uvicorn and the recommended setup
    .venv/bin/python -m bench.serve_ingress --matrix   # every configuration in CONFIGS
    .venv/bin/python -m bench.serve_ingress --only serve-to --only haproxy --repeats 5

Every server is a child process of its own: Ray reads its ``RAY_SERVE_*`` switches when its
modules are imported, so each Serve configuration gets a fresh interpreter and a fresh local
cluster (its own ``RAY_TMPDIR``, removed afterwards) running only the ingress,
``serve_apps.ingress.ApiIngress`` with the builder's ``DeploymentOptions``. Plain uvicorn runs
the app as ``tmm api serve`` does and stays up the whole time: each configuration's runs
alternate with uvicorn runs, and its ratio is taken within those back-to-back pairs, because
on a shared machine other work shifts throughput by the minute. The server's CPU time per
request (its whole process tree) is reported too: it moves far less with other load.

Load comes from Debian's ``wrk`` (``apt-get install wrk``; a Lua ``done`` hook reports
p50/p95/p99) or, without it, an asyncio + httpx loop that tops out much lower. The data is the
demo podcast under ``PODCASTS`` feed URLs in a database of its own (``tmm_bench``, dropped at
the end), with a Redis prefix of its own and the rate limits raised out of the way. Prints
figures; asserts nothing, but flags failed answers and socket errors.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import psycopg
from fastapi import FastAPI
from psycopg import sql
from psycopg.conninfo import make_conninfo

from serve_apps.kuberay import RAY_ENV as KUBERAY_RAY_ENV
from serve_apps.local import API_REPLICAS
from tellmemore.settings import (
    ApiSettings,
    DatabaseSettings,
    RateLimitSettings,
    RedisSettings,
    Settings,
    secret_environment,
)

DB_NAME = "tmm_bench"
PODCASTS = 5


@dataclass(frozen=True)
class Config:
    """One way of serving the app. Serve children get ``raykit.local.RAY_ENV`` with ``env``
    on top; ``target="replica"`` skips the proxy and loads the replica's own direct-ingress
    port (what HAProxy forwards to)."""

    name: str
    server: Literal["uvicorn", "serve"] = "serve"
    env: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"  # the app's: INFO writes its access log line per request
    replicas: int = 1
    max_ongoing: int = 200  # as AppOptions().ingress
    serve_access_log: bool = True
    proxy_location: str = "HeadOnly"
    target: Literal["port", "replica"] = "port"
    uvicorn_loop: str = "auto"  # uvloop when installed
    workers: int = 1  # uvicorn processes

    def about(self) -> str:
        if self.server == "uvicorn":
            procs = f"{self.workers} process" + ("es" if self.workers > 1 else "")
            return f"uvicorn, {procs}, loop {self.uvicorn_loop}, log {self.log_level}"
        env = dict(self.env)
        front = "HAProxy" if env.pop("RAY_SERVE_ENABLE_HA_PROXY", "0") == "1" else "Serve proxy"
        parts = [
            "replica port" if self.target == "replica" else front,
            f"TO={env.pop('RAY_SERVE_THROUGHPUT_OPTIMIZED', '1')}",
            *(f"{k.removeprefix('RAY_SERVE_').removeprefix('RAY_')}={v}" for k, v in env.items()),
            f"{self.replicas} rep",
            f"mor {self.max_ongoing}",
            f"log {self.log_level}" + ("" if self.serve_access_log else ", no Serve access log"),
        ]
        return ", ".join(
            parts + ([self.proxy_location] if self.proxy_location != "HeadOnly" else [])
        )


_HA = {"RAY_SERVE_ENABLE_HA_PROXY": "1"}
_NO_HA = {"RAY_SERVE_ENABLE_HA_PROXY": "0"}
_TO_OFF = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "0"}
# TO=1 turns RAY_SERVE_LOG_TO_STDERR off, which pipes a replica's stderr through Serve's logger
# (a traceback.extract_stack per line): the app's own access log line pays for that. RAY_ENV
# now sets it to 1; _PIPED keeps the TO=1 configurations measured before that as they were
# (with TO=0 Ray's own default is 1 already).
_STDERR = {"RAY_SERVE_LOG_TO_STDERR": "1"}
_PIPED = {"RAY_SERVE_LOG_TO_STDERR": "0"}
CONFIGS = [
    Config("uvicorn", server="uvicorn"),  # the baseline: what `tmm api serve` runs
    Config("uvicorn-warn", server="uvicorn", log_level="WARNING"),
    Config("uvicorn-asyncio", server="uvicorn", uvicorn_loop="asyncio"),
    Config("uvicorn-2proc", server="uvicorn", workers=2),  # what 2 replicas are up against
    Config("serve-default", env=_TO_OFF),  # Ray's defaults: the Python proxy
    Config("serve-default-everynode", env=_TO_OFF, proxy_location="EveryNode"),
    Config("serve-default-quiet", env=_TO_OFF, log_level="WARNING", serve_access_log=False),
    Config("serve-to", env=_PIPED),  # THROUGHPUT_OPTIMIZED=1, `tmm-serve run` before 2026-12
    Config("serve-to-stderr", env=_STDERR),
    Config("serve-to-2rep", env=_PIPED, replicas=2),
    Config("serve-to-replica", env=_PIPED, target="replica"),
    Config("haproxy-to0", env=_HA | _TO_OFF),
    Config("haproxy", env=_PIPED | _HA),
    Config("haproxy-mor5", env=_PIPED | _HA, max_ongoing=5),
    Config("haproxy-mor1000", env=_PIPED | _HA, max_ongoing=1000),
    Config("haproxy-2rep", env=_PIPED | _HA, replicas=2),
    Config("haproxy-nbthread1", env=_PIPED | _HA | {"RAY_SERVE_HAPROXY_NBTHREAD": "1"}),
    Config("haproxy-no-uvloop", env=_PIPED | _HA | {"RAY_USE_UVLOOP": "0"}),
    Config("haproxy-noaccess", env=_PIPED | _HA, serve_access_log=False),
    Config("haproxy-stderr", env=_HA | _STDERR),
    Config("haproxy-stderr-noaccess", env=_HA | _STDERR, serve_access_log=False),
    Config("haproxy-stderr-2rep", env=_HA | _STDERR, serve_access_log=False, replicas=2),
    Config("haproxy-quiet", env=_PIPED | _HA, log_level="WARNING", serve_access_log=False),
    # What `tmm-serve run` runs: RAY_ENV as it stands (HAProxy on loopback), Serve's access log
    # off for the API, API_REPLICAS replicas.
    Config("local", env=_HA, replicas=API_REPLICAS, serve_access_log=False),
    # What the production cluster runs (bench/cluster.py reports it): every Ray container's
    # switches from serve_apps/kuberay.py, the API's minimum of two replicas, a proxy per node
    # and Serve's access log off for the API (cluster/serve/production.yaml).
    Config(
        "production",
        env={e["name"]: e["value"] for e in KUBERAY_RAY_ENV},
        replicas=2,
        serve_access_log=False,
        proxy_location="EveryNode",
    ),
]
BY_NAME = {c.name: c for c in CONFIGS}
# The fastest setup that keeps the app's request log: HAProxy in front of the replicas' own
# HTTP ports, throughput-optimized Serve, stderr not piped through Serve's logger, and Serve's
# access log off (the app's AccessLog middleware already writes one line per request).
BEST = "haproxy-stderr-noaccess"


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    failed: int  # answers with a status of 400 or more
    socket: int = 0  # connect, read and write errors and timeouts (10 s)
    cpu_ms: float = 0.0  # the server's CPU time per request (set by Server.run)


@dataclass
class Result:
    config: Config
    runs: list[Run] = field(default_factory=list)
    baseline: list[Run] = field(default_factory=list)  # plain uvicorn, paired with runs
    error: str | None = None

    def median(self, attr: str) -> float:
        return float(statistics.median(float(getattr(r, attr)) for r in self.runs))


# ---- load --------------------------------------------------------------------------------------

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %.0f %.0f %.0f\\n", summary.requests,
    summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Load:
    connections: int
    threads: int
    duration_s: int
    tool: Literal["wrk", "python"]
    workdir: Path

    def run(self, url: str, duration_s: int | None = None) -> Run:
        seconds = duration_s or self.duration_s
        if self.tool == "python":
            return asyncio.run(_python_load(url, self.connections, seconds))
        script = self.workdir / "done.lua"
        script.write_text(_WRK_DONE)
        command = ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s",
                   "--timeout", "10s"]  # fmt: skip
        out = subprocess.run(  # noqa: S603
            [*command, "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
        n, dur_us, status, sock, p50, p95, p99 = (float(x) for x in line.split()[1:])
        return Run(
            n / (dur_us / 1e6), p50 / 1e3, p95 / 1e3, p99 / 1e3, int(n), int(status), int(sock)
        )


async def _python_load(url: str, connections: int, seconds: int) -> Run:
    """The fallback: ``connections`` keep-alive loops in this process."""
    latencies: list[float] = []
    failed = socket_errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal failed, socket_errors
            while (started := time.perf_counter()) < deadline:
                try:
                    failed += (await client.get(url)).status_code >= 400
                except httpx.HTTPError:
                    socket_errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1e3

    n = len(ordered)
    return Run(n / elapsed, pct(50), pct(95), pct(99), n, failed, socket_errors)


# ---- the servers (child processes) -------------------------------------------------------------


def bench_settings(db_url: str, redis_prefix: str, port: int, log_level: str) -> Settings:
    """The app's settings for the bench: its own database and Redis prefix, limits out of the
    way (a one-second window keeps the limiter's sorted set small at thousands of req/s)."""
    huge = 1_000_000_000
    return Settings(
        log_level=log_level,
        database=DatabaseSettings(url=db_url, pool_min_size=2, pool_max_size=10),
        redis=RedisSettings(key_prefix=redis_prefix),
        rate_limit=RateLimitSettings(
            per_user_per_minute=huge, per_ip_per_minute=huge, auth_per_minute=huge, window_s=1.0
        ),
        api=ApiSettings(host="127.0.0.1", port=port),
    )


_UVICORN_ARGS = "TMM_BENCH_UVICORN"


def uvicorn_app() -> FastAPI:
    """The app as ``tmm api serve`` builds it, in each uvicorn worker process."""
    from api.app import create_app
    from tellmemore.logs import configure_logging

    name, db_url, redis_prefix, port = os.environ[_UVICORN_ARGS].split("\n")
    settings = bench_settings(db_url, redis_prefix, int(port), BY_NAME[name].log_level)
    configure_logging(settings)
    return create_app(settings)


def serve_child(config: Config, settings: Settings, ready_file: Path) -> None:
    """Run one configuration until the parent closes our stdin (or dies), then stop everything
    it started; the URL to load goes into ``ready_file``."""

    def stop_on_eof() -> None:
        sys.stdin.read()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_on_eof, daemon=True).start()
    if config.server == "uvicorn":
        import uvicorn

        os.environ[_UVICORN_ARGS] = "\n".join(
            [config.name, settings.database.url, settings.redis.key_prefix, str(settings.api.port)]
        )
        ready_file.write_text(f"http://127.0.0.1:{settings.api.port}")
        uvicorn.run("bench.serve_ingress:uvicorn_app", factory=True, workers=config.workers,
                    host=settings.api.host, port=settings.api.port, proxy_headers=True,
                    forwarded_allow_ips=settings.api.forwarded_allow_ips, log_config=None,
                    access_log=False, loop=config.uvicorn_loop)  # fmt: skip
        return

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    import ray
    from ray import serve

    from raykit.local import start_ray

    start_ray(num_cpus=2, object_store_mb=128, environment=secret_environment(settings))
    try:
        ready_file.write_text(_deploy(config, settings))
        stop.wait()
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()


def _deploy(config: Config, settings: Settings) -> str:
    """Only the ingress, as the builder deploys it; returns the URL to load."""
    from typing import cast

    import ray
    from ray import serve
    from ray.serve.context import _get_global_client
    from ray.serve.deployment import Deployment

    from serve_apps.builder import DeploymentOptions
    from serve_apps.ingress import ApiIngress

    serve.start(
        proxy_location=config.proxy_location,
        http_options={"host": settings.api.host, "port": settings.api.port},
        grpc_options={"port": 0},
    )
    options = DeploymentOptions(
        num_cpus=0.5, num_replicas=config.replicas, max_ongoing_requests=config.max_ongoing
    ).as_options()
    if not config.serve_access_log:
        options["logging_config"] = {"enable_access_log": False}
    app = cast(Deployment, ApiIngress).options(**options).bind(settings)
    serve.run(app, name="bench", route_prefix="/")
    if config.target == "port":
        return f"http://{settings.api.host}:{settings.api.port}"
    # No public API names a replica's direct-ingress port; the controller's target groups do.
    client = _get_global_client()
    assert client is not None
    groups = ray.get(client._controller.get_target_groups.remote(app_name="bench"))
    http = [t for g in groups if g.protocol == "HTTP" for t in g.targets]
    return f"http://{http[0].ip}:{http[0].port}"


# ---- the parent: database, servers, paired runs ------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def bench_database(server_url: str) -> Iterator[tuple[str, str]]:
    """``tmm_bench``, migrated and holding the demo podcast under ``PODCASTS`` feed URLs, with
    one podcast's id; dropped afterwards whatever happens."""
    from tellmemore.storage import migrate

    admin = make_conninfo(server_url, dbname="postgres")
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    url = make_conninfo(server_url, dbname=DB_NAME)
    try:
        asyncio.run(migrate(url))
        yield url, asyncio.run(_load_podcasts(url))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(drop)


async def _load_podcasts(db_url: str) -> str:
    from tellmemore.ops import render_demo_feed
    from tellmemore.wiring import open_services

    settings = bench_settings(db_url, "tmm-bench-load:", 8000, "WARNING")
    ids = []
    async with open_services(settings, wait_for_db=True) as services:
        for i in range(PODCASTS):
            base = f"http://bench-{i}.invalid/"
            added = await services.catalog.add_document(
                f"{base}demo/feed.xml", render_demo_feed(base)
            )
            ids.append(added.podcast_id)
    return str(ids[0])


def _child_env(config: Config) -> dict[str, str]:
    if config.server == "uvicorn":
        return dict(os.environ)
    from raykit.local import RAY_ENV

    # Short: Ray puts unix sockets below it. HAProxy (its own folder and loopback ports from
    # start_ray) runs only where a configuration asks for it, though RAY_ENV's switch is on.
    ray_tmp = Path(tempfile.mkdtemp(prefix="tmmb-", dir="/tmp"))
    extra = {"RAY_TMPDIR": str(ray_tmp), **_NO_HA}
    return dict(os.environ) | RAY_ENV | extra | config.env


@dataclass(frozen=True)
class Bench:
    """What every server child and every measurement shares."""

    db_url: str
    redis_prefix: str
    route: str
    load: Load
    repeats: int


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server's process tree (for Serve: driver, GCS,
        raylet, controller, proxy or HAProxy, replicas)."""
        import psutil

        root = psutil.Process(self.process.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += float(times.user + times.system)
            except psutil.NoSuchProcess:
                pass
        return total

    def run(self, load: Load, duration_s: int | None = None) -> Run:
        before = self.cpu_s()
        run = load.run(self.url, duration_s)
        return dataclasses.replace(run, cpu_ms=(self.cpu_s() - before) * 1e3 / max(run.requests, 1))


@contextmanager
def running(config: Config, bench: Bench) -> Iterator[Server]:
    """The configuration's server, answering and warmed up; stopped (Ray cluster included) and
    its temporary directory removed whatever happens."""
    workdir = bench.load.workdir
    log_path, ready = workdir / f"{config.name}.log", workdir / f"{config.name}.ready"
    env = _child_env(config)
    command = [sys.executable, "-m", "bench.serve_ingress", "--child", config.name, "--db",
               bench.db_url, "--redis-prefix", bench.redis_prefix, "--port", str(free_port()),
               "--ready-file", str(ready)]  # fmt: skip
    with log_path.open("w") as log:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log, stderr=log, env=env)  # noqa: S603
    try:
        try:
            server = Server(_wait_ready(child, ready, bench.route, timeout_s=180), child)
            server.run(bench.load, duration_s=3)  # warm-up: pools fill, code paths get hot
        except Exception:
            tail = "\n    ".join(log_path.read_text(errors="replace").splitlines()[-25:])
            print(f"  {config.name} did not start; its log ends:\n    {tail}", flush=True)
            raise
        yield server
    finally:
        if child.stdin is not None:
            child.stdin.close()  # the child stops itself on EOF
        try:
            child.wait(timeout=90)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if "RAY_TMPDIR" in env:
            shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)


def _wait_ready(child: subprocess.Popen[bytes], ready: Path, route: str, timeout_s: float) -> str:
    """The URL to load, once the route has answered 200 twenty times in a row (HAProxy marks
    a replica up only after its health checks pass)."""
    deadline = time.monotonic() + timeout_s
    streak = 0
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"server exited with {child.returncode} before it was ready")
        if ready.exists() and (base := ready.read_text().strip()):
            try:
                ok = httpx.get(base + route, timeout=5.0).status_code == 200
            except httpx.HTTPError:
                ok = False
            streak = streak + 1 if ok else 0
            if streak >= 20:
                return base + route
        time.sleep(0.05 if streak else 0.5)
    raise TimeoutError(f"route not answering 200 after {timeout_s:.0f} s")


def measure(config: Config, baseline: Server, bench: Bench) -> Result:
    """``repeats`` pairs of runs, plain uvicorn then ``config``, back to back."""
    result = Result(config)
    try:
        with running(config, bench) as server:
            for _ in range(bench.repeats):
                base, run = baseline.run(bench.load), server.run(bench.load)
                result.baseline.append(base)
                result.runs.append(run)
                print(f"  {config.name:<24} {_line(run)} | uvicorn {_line(base)} "
                      f"x{run.rps / base.rps:.2f} (load average {os.getloadavg()[0]:.1f})",
                      flush=True)  # fmt: skip
    except Exception as exc:  # one broken configuration must not lose the others' figures
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _line(run: Run) -> str:
    bad = _errors(run.failed, run.socket)
    ms = f"p50 {run.p50_ms:5.1f} p99 {run.p99_ms:6.1f} ms cpu {run.cpu_ms:5.2f}"
    return f"{run.rps:5.0f} req/s {ms}{bad}"


def _errors(failed: int, socket_errors: int) -> str:
    parts = [f"{failed} answers >= 400"] if failed else []
    parts += [f"{socket_errors} socket errors"] if socket_errors else []
    return f"  ({', '.join(parts)}!)" if parts else ""


def print_table(results: list[Result], bench: Bench) -> None:
    load = bench.load
    base_runs = [b for r in results for b in r.baseline]
    rows = [Result(BY_NAME["uvicorn"], base_runs, base_runs)] if base_runs else []
    rows += [r for r in results if r.config.name != "uvicorn"]
    threads = f", {load.threads} threads" if load.tool == "wrk" else ""
    print(f"\nGET {bench.route}: {load.tool}, {load.connections} connections{threads}, "
          f"{load.duration_s} s per run, {os.cpu_count()} cores. Medians over runs; "
          f"latencies in ms; cpu: the server's process tree, ms per request; x uvicorn: median "
          f"(min-max) of the ratios within back-to-back pairs.")  # fmt: skip
    w = max((len(r.config.about()) for r in rows), default=4)
    print(f"{'config':<24} {'what':<{w}} {'req/s':>6} {'p50':>6} {'p95':>6} {'p99':>7} "
          f"{'cpu':>5} {'x uvicorn':>16}")  # fmt: skip
    for r in rows:
        if not r.runs:
            print(f"{r.config.name:<24} {r.config.about():<{w}} failed: {r.error}")
            continue
        ratios = [x.rps / b.rps for x, b in zip(r.runs, r.baseline, strict=True)]
        ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        flag = _errors(sum(x.failed for x in r.runs), sum(x.socket for x in r.runs))
        print(f"{r.config.name:<24} {r.config.about():<{w}} {r.median('rps'):6.0f} "
              f"{r.median('p50_ms'):6.1f} {r.median('p95_ms'):6.1f} {r.median('p99_ms'):7.1f} "
              f"{r.median('cpu_ms'):5.2f} {ratio:>16}{flag}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--matrix", action="store_true", help="measure every configuration")
    parser.add_argument("--only", action="append", choices=list(BY_NAME), help="these only")
    parser.add_argument("--route", default="/podcasts?limit=20", help="{podcast_id} is filled in")
    parser.add_argument("--repeats", type=int, default=3, help="run pairs per configuration")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--python-load", action="store_true", help="asyncio+httpx, not wrk")
    parser.add_argument("--database", default=DatabaseSettings().url, help="a PostgreSQL URL")
    for hidden in ("--child", "--db", "--redis-prefix", "--port", "--ready-file"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config = BY_NAME[args.child]
        settings = bench_settings(args.db, args.redis_prefix, int(args.port), config.log_level)
        serve_child(config, settings, Path(args.ready_file))
        return

    names = list(BY_NAME) if args.matrix else args.only or [BEST]
    tool: Literal["wrk", "python"] = (
        "python" if args.python_load or not shutil.which("wrk") else "wrk"
    )
    redis_prefix = f"tmm-bench-{uuid.uuid4().hex[:8]}:"
    print(f"load: {tool}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tmm-bench-") as tmp:
        load = Load(args.connections, args.threads, args.duration, tool, Path(tmp))
        try:
            with bench_database(args.database) as (db_url, podcast_id):
                route = args.route.replace("{podcast_id}", podcast_id)
                bench = Bench(db_url, redis_prefix, route, load, args.repeats)
                with running(BY_NAME["uvicorn"], bench) as baseline:
                    results = [
                        measure(BY_NAME[n], baseline, bench) for n in names if n != "uvicorn"
                    ]
        finally:
            _clear_redis(RedisSettings().url, redis_prefix)
    print_table(results, bench)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _clear_redis(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)
    client.close()


if __name__ == "__main__":
    main()
