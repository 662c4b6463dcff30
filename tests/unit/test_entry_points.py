"""The console scripts the README names parse the way the README spells them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app as tmm
from serve_apps.local import app as tmm_serve


@pytest.mark.parametrize(
    ("app", "argv"),
    [
        (tmm_serve, ["run", "--help"]),
        (tmm, ["db", "migrate", "--help"]),
        (tmm, ["demo", "load", "--help"]),
        (tmm, ["jobs", "failed", "--help"]),
    ],
)
def test_readme_commands_parse(app: object, argv: list[str]) -> None:
    result = CliRunner().invoke(app, argv)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
