"""Backup and restore times on the configured catalog (the demo: `python -m
tellmemore.research.corpus` first).

    python -m bench.backup [--rounds 3]

Takes a backup, then restores it into a fresh database each round (the LanceDB tables from
their tags), and once more after dropping the summaries table (from the backup's copy). Prints
wall times; the fresh databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tellmemore.index import connect, live_tables
from tellmemore.ops import Backups
from tellmemore.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    backups = Backups(settings)
    db = connect(settings.lance, settings.s3)
    tables = {name: table.count_rows() for name, table in live_tables(db).items()}
    started = time.perf_counter()
    manifest = backups.create()
    took = time.perf_counter() - started
    print(f"catalog: {tables}; dump {manifest.postgres_bytes / 1024:.0f} KiB")
    print(f"backup create: {took:.2f} s")
    admin = make_conninfo(settings.database.url, dbname="postgres")
    made: list[str] = []
    try:
        times = []
        for _ in range(args.rounds):
            made.append(f"tmm_bench_restore_{uuid.uuid4().hex[:8]}")
            url = make_conninfo(settings.database.url, dbname=made[-1])
            times.append(backups.restore(manifest.id, database_url=url).seconds)
        print(f"restore (tables from tags): median {statistics.median(times):.2f} s "
              f"over {len(times)}: {', '.join(f'{t:.2f}' for t in times)}")  # fmt: skip
        connect(settings.lance, settings.s3).drop_table("episode_summaries")
        made.append(f"tmm_bench_restore_{uuid.uuid4().hex[:8]}")
        url = make_conninfo(settings.database.url, dbname=made[-1])
        report = backups.restore(manifest.id, database_url=url)
        print(f"restore after dropping episode_summaries (from the copy): {report.seconds:.2f} s")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))  # fmt: skip


if __name__ == "__main__":
    main()
