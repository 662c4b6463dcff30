"""``tmm admin``: give accounts operator rights, or take them away."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import load_cli_settings, run_job
from tellmemore.wiring import Services

app = typer.Typer(help="Operator rights.", no_args_is_help=True)


@app.command("grant")
def admin_grant(
    email: str, revoke: Annotated[bool, typer.Option(help="Take the rights away")] = False
) -> None:
    """Give an account operator rights (failed-job routes), or take them away."""
    from tellmemore.accounts.rows import users

    settings = load_cli_settings()

    async def job(services: Services) -> bool:
        async with services.pool.connection() as conn:
            return await users.set_admin(conn, email, not revoke)

    if not run_job(settings, job):
        typer.echo(f"no account for {email}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{email}: operator rights {'revoked' if revoke else 'granted'}")
