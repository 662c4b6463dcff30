"""``tmm``: the one command-line entry point, with a subcommand per job.

Only the root app lives here; each group is a Typer app in its own module of :mod:`cli`.
"""

from __future__ import annotations

import typer

from cli import (
    admin,
    api,
    apple,
    backup,
    db,
    demo,
    digests,
    export,
    feeds,
    index,
    jobs,
    local,
    models,
    opml,
    podcasts,
    topics,
)

app = typer.Typer(
    help="Tell Me More: podcast catalog, processing and playlists.", no_args_is_help=True
)
# In the order `tmm --help` lists them.
app.add_typer(db.app, name="db")
app.add_typer(podcasts.app, name="podcasts")
app.add_typer(feeds.app, name="feeds")
app.add_typer(apple.app, name="apple")
app.add_typer(opml.app, name="opml")
app.add_typer(demo.app, name="demo")
app.add_typer(jobs.app, name="jobs")
app.add_typer(admin.app, name="admin")
app.add_typer(api.app, name="api")
app.add_typer(local.app, name="local")
app.add_typer(models.app, name="models")
app.add_typer(backup.app, name="backup")
app.add_typer(export.app, name="export")
app.add_typer(index.app, name="index")
app.add_typer(topics.app, name="topics")
app.add_typer(digests.app, name="digests")
