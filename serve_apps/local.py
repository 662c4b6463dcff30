"""Run Tell Me More on a local Ray cluster: ``tmm-serve run`` (what ``make run`` calls).

Starts a private Ray cluster on loopback (never attaching to someone else's), the two Serve
applications on ``settings.api.host:port``, and, with ``--demo``, loads the demo podcast and
queues its episodes so they are searchable a minute later. Ctrl-C stops exactly what it started.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Annotated

import typer

from raykit.local import LocalCluster, metrics_url, set_ray_env, start_ray
from serve_apps.builder import APP_NAME, LLM_APP_NAME, AppOptions, compose, compose_llm
from serve_apps.processor import PROCESSOR
from tellmemore.logs import configure_logging
from tellmemore.settings import Settings, load_settings, secret_environment


def deploy(
    settings: Settings, options: AppOptions, *, with_llm: bool = True, timeout_s: float = 600
) -> LocalCluster:
    """Start Serve on ``settings.api`` and deploy both applications (the LLM first: the
    processor's summaries need it). The LLM app gets no route: the API's ``/llm/v1`` (an API
    key with the ``llm`` scope) is the way in."""
    from ray import serve

    serve.start(
        http_options={"host": settings.api.host, "port": settings.api.port},
        grpc_options={"port": 0},
    )
    if with_llm:
        serve.run(compose_llm(settings, options), name=LLM_APP_NAME, route_prefix=None,
                  blocking=False)  # fmt: skip
    serve.run(compose(settings, options), name=APP_NAME, route_prefix="/", blocking=False)
    wait_until_running([APP_NAME, *([LLM_APP_NAME] if with_llm else [])], timeout_s)
    base = f"http://{settings.api.host}:{settings.api.port}"
    return LocalCluster(url=base, llm_url=f"{base}/llm/v1")


def wait_until_running(names: list[str], timeout_s: float) -> None:
    from ray import serve
    from ray.serve.schema import ApplicationStatus

    deadline = time.monotonic() + timeout_s
    while True:
        apps = serve.status().applications
        states = {n: apps[n].status if n in apps else None for n in names}
        if all(s == ApplicationStatus.RUNNING for s in states.values()):
            return
        failed = [n for n, s in states.items() if s == ApplicationStatus.DEPLOY_FAILED]
        if failed:
            raise RuntimeError(f"Serve applications failed to deploy: {failed}: "
                               f"{[apps[n].message for n in failed]}")  # fmt: skip
        if time.monotonic() > deadline:
            raise TimeoutError(f"Serve applications not running after {timeout_s:.0f} s: {states}")
        time.sleep(1)


# API replicas `tmm-serve run` starts: one per core of the 2-core reference machine. The API
# replica is the first process to saturate under many listeners (bench/users.py: one replica at
# ~97 % of a core with the rest of the stack idle enough), and a second one adds about half
# again of the requests/s.
API_REPLICAS = 2

app = typer.Typer(help="Tell Me More on Ray Serve.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Tell Me More on Ray Serve (a command group, so ``tmm-serve run`` is spelled as such)."""


@app.command("run")
def run(
    demo: Annotated[bool, typer.Option(help="Load the demo podcast and process it")] = False,
    num_cpus: Annotated[int, typer.Option(help="Logical CPUs for the local Ray cluster")] = 8,
    llm: Annotated[bool, typer.Option(help="Deploy the LLM app (summaries need it)")] = True,
    api_replicas: Annotated[int, typer.Option(min=1, help="API ingress replicas")] = API_REPLICAS,
) -> None:
    """Start a local Ray cluster and the Serve apps; Ctrl-C stops them."""
    set_ray_env()  # before Ray is imported: some of it is read at import time
    import ray

    settings = load_settings()
    configure_logging(settings)
    start_ray(num_cpus=num_cpus, environment=secret_environment(settings))
    try:
        started = time.monotonic()
        ingress = AppOptions().ingress.model_copy(update={"num_replicas": api_replicas})
        cluster = deploy(settings, AppOptions(ingress=ingress), with_llm=llm)
        took = time.monotonic() - started
        typer.echo(
            f"Tell Me More on {cluster.url} (docs {cluster.url}/docs), "
            f"LLM on {cluster.llm_url} (an API key with the llm scope), metrics on "
            f"{metrics_url()}, ready in {took:.0f} s"
        )
        if demo:
            typer.echo(asyncio.run(_load_demo(settings)))
        typer.echo("Ctrl-C stops it.")
        stop = asyncio.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.is_set():
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    finally:
        stopping = time.monotonic()
        drained = _drain_processors()
        # Nothing else holds state worth waiting for (jobs live in PostgreSQL, models are
        # reloaded), and this cluster is ours alone: stopping Ray stops every replica at once,
        # where Serve's graceful shutdown waits on each deployment in turn (30 s and more).
        ray.shutdown()
        typer.echo(f"stopped in {time.monotonic() - stopping:.1f} s ({drained})")


def _drain_processors(timeout_s: float = 10.0) -> str:
    """Ask every processor replica to hand its running episodes back; a replica that cannot
    be reached leaves its jobs to lease expiry, which loses nothing."""
    from ray import serve

    async def drain(replicas: int) -> set[str]:
        # Inside an event loop: with Serve's throughput-optimised mode (RAY_SERVE_THROUGHPUT_
        # OPTIMIZED) a handle routes on the caller's loop and refuses to work without one.
        handle = serve.get_deployment_handle(PROCESSOR, APP_NAME)
        # Concurrent calls spread over the replicas; a replica asked twice answers at once.
        calls = [handle.drain.remote() for _ in range(replicas)]
        answers = await asyncio.wait_for(asyncio.gather(*calls), timeout_s)
        return {answer["worker"] for answer in answers}

    try:
        deployment = serve.status().applications[APP_NAME].deployments[PROCESSOR]
        replicas = max(1, sum(n or 0 for n in deployment.replica_states.values()))
        workers = asyncio.run(drain(replicas))
    except Exception as exc:  # the cluster may already be half gone (a second Ctrl-C)
        return f"processors not drained: {type(exc).__name__}: {exc}"
    return f"{len(workers)} of {replicas} processor replicas drained"


async def _load_demo(settings: Settings) -> str:
    from uuid import UUID

    from tellmemore.errors import CatalogError
    from tellmemore.ops import render_demo_feed
    from tellmemore.wiring import open_services

    base = f"http://{settings.api.host}:{settings.api.port}/"
    async with open_services(settings, wait_for_db=True) as services:
        try:
            added = await services.catalog.add_document(
                base + "demo/feed.xml", render_demo_feed(base)
            )
            podcast_id = added.podcast_id
        except CatalogError as exc:
            if exc.code != "podcast_exists":
                raise
            podcast_id = UUID(exc.details["podcast_id"])
        queued = await services.jobs.enqueue_newest(podcast_id, 1000)
    return (
        f"demo podcast {podcast_id}: {len(queued)} episodes queued; follow them at "
        f"{base}podcasts/{podcast_id}/episodes"
    )
