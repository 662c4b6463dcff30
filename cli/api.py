"""``tmm api``: serve the HTTP API with uvicorn (in this process, without Ray)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import load_cli_settings
from tellmemore.logs import configure_logging

app = typer.Typer(help="The HTTP API.", no_args_is_help=True)


@app.command("serve")
def api_serve(
    host: Annotated[str | None, typer.Option(help="Default from settings (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Default from settings (8000)")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from api.app import create_app

    settings = load_cli_settings()
    configure_logging(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        proxy_headers=False,  # api.proxies.TrustedProxies does it, under Serve as well
        log_config=None,  # ours: structured, redacted
        access_log=False,  # the app logs each request itself, without query strings
    )
