"""Many listeners at once: the running stack under concurrent users with think time.

    .venv/bin/python -m bench.users                               # 300 users, 5 minutes
    .venv/bin/python -m bench.users --users 100 --minutes 1 --think 1
    .venv/bin/python -m bench.users --url http://127.0.0.1:8000   # a running `make run`

Without ``--url`` it starts what ``bench/search_http.py`` starts: the Serve application on a
private Ray cluster over the demo catalog (6 podcasts, 24 episodes), on a database, Redis key
prefix and LanceDB prefix of its own, removed at the end; rate limits are off there (this
measures capacity; one address would otherwise be throttled long before).

Each user is a loop: one request, then a think time drawn uniformly from 0.5-1.5x ``--think``
seconds (the issue's "1 s think time" on average), for ``--minutes`` after a ramp-up in which
users start one by one. What a listener of the web app does, by share of requests:

- 35 % the catalog (``GET /podcasts?limit=20``), 15 % one podcast's episodes, 10 % one episode;
- 30 % a search from the popular queries (the labelled set's, cached after their first time);
- 10 % a search nobody made before (a popular query with a new suffix: uncached, embedded,
  highlighted).

Requests go over a pool of keep-alive connections (one per user, as browsers keep theirs)
with aiohttp, which costs the load generator less CPU than httpx (it shares the 2 cores with
the server). Reports requests/s, p50/p95/p99 per kind and overall, and every error by class
(HTTP status, timeout, connection error), with the load average, and the processes the measured
window kept busiest (the first at 100 % of a core is where the stack saturates); asserts
nothing. A request counts from when it is sent; one that took longer than ``--timeout`` is a
timeout. ``--api-replicas`` sets the own stack's API replicas (``make run``'s by default).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.search_http import load, own_stack, pct
from tellmemore.research import load_eval_set

MIX: tuple[tuple[str, int], ...] = (
    ("catalog", 35), ("episodes", 15), ("episode", 10), ("search", 30), ("new search", 10),
)  # fmt: skip


@dataclass
class Results:
    started: float = 0.0
    ended: float = 0.0
    latency: dict[str, list[float]] = field(default_factory=dict)  # kind -> ms
    errors: Counter[str] = field(default_factory=Counter)  # "kind: class" -> count

    def add(self, kind: str, ms: float, error: str | None) -> None:
        self.latency.setdefault(kind, []).append(ms)
        if error:
            self.errors[f"{kind}: {error}"] += 1


@dataclass(frozen=True)
class Catalog:
    podcasts: list[str]
    episodes: list[str]
    queries: list[str]


async def catalog(session: aiohttp.ClientSession) -> Catalog:
    async with session.get("/podcasts", params={"limit": 50}) as answer:
        podcasts = [p["id"] for p in (await answer.json())["items"]]
    episodes: list[str] = []
    for podcast in podcasts:
        async with session.get(f"/podcasts/{podcast}/episodes") as answer:
            episodes += [e["id"] for e in (await answer.json())["items"]]
    queries = [q.query for q in load_eval_set().queries]
    return Catalog(podcasts, episodes, queries)


def request(kind: str, known: Catalog, rng: random.Random) -> tuple[str, dict[str, str]]:
    if kind == "catalog":
        return "/podcasts", {"limit": "20"}
    if kind == "episodes":
        return f"/podcasts/{rng.choice(known.podcasts)}/episodes", {}
    if kind == "episode":
        return f"/episodes/{rng.choice(known.episodes)}", {}
    query = rng.choice(known.queries)
    if kind == "new search":
        query = f"{query} {uuid.uuid4().hex[:6]}"
    return "/search", {"q": query}


async def user(
    session: aiohttp.ClientSession, known: Catalog, results: Results, args: argparse.Namespace,
    seed: int, measure_from: float, until: float,
) -> None:  # fmt: skip
    rng = random.Random(seed)  # noqa: S311 (a request mix, not a secret)
    kinds, weights = [k for k, _ in MIX], [w for _, w in MIX]
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    while time.monotonic() < until:
        kind = rng.choices(kinds, weights)[0]
        path, params = request(kind, known, rng)
        sent = time.monotonic()
        error = None
        try:
            async with session.get(path, params=params, timeout=timeout) as answer:
                await answer.read()
                if answer.status != 200:
                    error = f"HTTP {answer.status}"
        except TimeoutError:
            error = f"timeout (> {args.timeout:g} s)"
        except aiohttp.ClientError as exc:
            error = type(exc).__name__
        if sent >= measure_from:
            results.add(kind, (time.monotonic() - sent) * 1000, error)
        await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))


async def run(url: str, args: argparse.Namespace) -> None:
    connector = aiohttp.TCPConnector(limit=args.users + 10, force_close=False)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        known = await catalog(session)
        for query in known.queries:  # the popular queries cached, as after a while in production
            async with session.get("/search", params={"q": query}) as answer:
                await answer.read()
        print(f"{len(known.podcasts)} podcasts, {len(known.episodes)} episodes, "
              f"{len(known.queries)} popular queries; {load()}")  # fmt: skip
        results = Results()
        began = time.monotonic()
        measure_from = began + args.ramp_s
        until = measure_from + args.minutes * 60
        tasks = []
        for i in range(args.users):
            tasks.append(asyncio.create_task(
                user(session, known, results, args, i, measure_from, until)))  # fmt: skip
            await asyncio.sleep(args.ramp_s / args.users)
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        start_load = load()
        before = cpu_seconds()
        await asyncio.gather(*tasks)
        results.started, results.ended = measure_from, until
        report(results, args, start_load)
        busiest(before, cpu_seconds(), until - measure_from)


def cpu_seconds() -> dict[tuple[int, str], float]:
    """CPU seconds so far of every process on this machine, by (pid, title): Ray workers
    carry their role in the title (``ray::ServeReplica:tellmemore:Api``)."""
    import psutil

    seen: dict[tuple[int, str], float] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "cpu_times"]):
        times, cmdline = proc.info["cpu_times"], proc.info["cmdline"]
        if times is not None and cmdline:
            title = " ".join(cmdline)[:70]
            seen[(proc.info["pid"], title)] = times.user + times.system
    return seen


def busiest(
    before: dict[tuple[int, str], float], after: dict[tuple[int, str], float], seconds: float
) -> None:
    """Which processes the measured window kept busy, as a share of one core: the first to
    reach 100 % is where the stack saturates."""
    used = {key: after[key] - before.get(key, 0.0) for key in after}
    print(f"  busiest processes over the measured {seconds:.0f} s (100 % = one core):")
    for (pid, title), cpu in sorted(used.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {100 * cpu / seconds:5.0f} %  {pid:>7}  {title}")


def report(results: Results, args: argparse.Namespace, start_load: str) -> None:
    seconds = results.ended - results.started
    every = [ms for values in results.latency.values() for ms in values]
    failed = sum(results.errors.values())
    print(f"\n{args.users} users, think {args.think:g} s (0.5-1.5x), {args.minutes:g} min "
          f"measured after a {args.ramp_s:g} s ramp; at the start {start_load}, at the end "
          f"{load()}")  # fmt: skip
    print(f"{len(every)} requests, {len(every) / seconds:.1f} req/s, {failed} errors")
    print(f"  {'kind':<12}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for kind, values in [*sorted(results.latency.items()), ("all", every)]:
        print(f"  {kind:<12}{len(values):>7}{pct(values, 0.5):>9.0f}{pct(values, 0.95):>9.0f}"
              f"{pct(values, 0.99):>9.0f}{max(values):>9.0f}")  # fmt: skip
    for what, count in results.errors.most_common():
        print(f"  error  {count:>6}  {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running stack (else one is started and stopped)")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between requests")
    parser.add_argument("--minutes", type=float, default=5.0, help="measured time")
    parser.add_argument("--ramp-s", type=float, default=20.0, help="users start over this")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before giving up")
    parser.add_argument("--api-replicas", type=int, help="API replicas (own stack; make run's)")
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args.url, args))
        return
    from tellmemore.settings import load_settings

    with own_stack(load_settings(), api_replicas=args.api_replicas) as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()
