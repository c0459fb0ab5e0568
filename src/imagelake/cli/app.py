"""`imagelake ...`: serve, worker, keys, upload, config. Heavy imports stay inside commands."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from imagelake.cli.aws import aws_app
from imagelake.cli.doctor import doctor
from imagelake.cli.lake import lake_app, report
from imagelake.cli.ops import dlq_app, events_app
from imagelake.config import Settings, settings_markdown
from imagelake.domain.access import Role
from imagelake.domain.errors import ImagelakeError

app = typer.Typer(
    help="imagelake: images in, thumbnails and signed URLs out, requests counted.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(events_app, name="events")
app.add_typer(dlq_app, name="dlq")
app.add_typer(aws_app, name="aws")
app.add_typer(lake_app, name="lake", no_args_is_help=True)
app.command("report")(report)
app.command("doctor")(doctor)
err = Console(stderr=True)


def _prepare_metrics_dir(settings: Settings) -> None:
    # Must happen before prometheus_client is imported, so every process shares one registry.
    path = settings.data_dir / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path.resolve())


@app.command()
def serve(
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: cores)")] = None,
) -> None:
    """Run the API, the dashboard and the workers together."""
    settings = Settings()
    if workers is not None:
        settings.workers = workers
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _prepare_metrics_dir(settings)
    from imagelake.runtime.serve import run_server

    run_server(settings)


@app.command()
def worker(
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: cores)")] = None,
) -> None:
    """Run workers only (thumbnails and the event consumer)."""
    settings = Settings()
    if workers is not None:
        settings.workers = workers
    from imagelake.runtime.serve import run_workers

    run_workers(settings)


@app.command()
def config(
    markdown: Annotated[bool, typer.Option(help="The README table")] = False,
    show_secrets: Annotated[
        bool, typer.Option(help="Print signing keys, the Sentry DSN and URL passwords as they are")
    ] = False,
) -> None:
    """Show every setting's value; secrets as *** unless --show-secrets."""
    if markdown:
        typer.echo(settings_markdown(), nl=False)
        return
    from imagelake.cli.settings_view import shown_settings

    for name, value in shown_settings(Settings(), show_secrets).items():
        typer.echo(f"IMAGELAKE_{name.upper()}={value}")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="The user the key acts as")],
    email: Annotated[str | None, typer.Option(help="Where notices for this user go")] = None,
    role: Annotated[Role, typer.Option(help="What the key may do (see README: roles)")] = Role.USER,
) -> None:
    """Create an API key; the key itself is the last line of stdout."""
    from imagelake.runtime.serve import open_services

    with open_services(Settings()) as wired:
        key, token = wired.keys.create(user, email, role)
    err.print(f"{role} key [bold]{key.key_id}[/] for user [bold]{user}[/] (shown once, keep it):")
    typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never the keys themselves)."""
    from rich.table import Table

    from imagelake.runtime.serve import open_services

    table = Table("key id", "user", "role", "e-mail", "created (UTC)", "revoked")
    with open_services(Settings()) as wired:
        for key in wired.keys.list():
            table.add_row(
                key.key_id,
                key.user_id,
                key.role,
                key.email or "",
                key.created_at.strftime("%Y-%m-%d %H:%M"),
                "yes" if key.revoked else "",
            )
    # Piped, rich would assume 80 columns and cut the e-mail and time short.
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    from imagelake.runtime.serve import open_services

    with open_services(Settings()) as wired:
        wired.keys.revoke(key_id)
    err.print(f"revoked {key_id}")


@app.command()
def upload(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (recursive)")],
    url: Annotated[str | None, typer.Option(help="Service URL")] = None,
    key: Annotated[str | None, typer.Option(envvar="IMAGELAKE_API_KEY", help="API key")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
) -> None:
    """Upload images concurrently, with a progress bar and a summary."""
    from imagelake.cli.upload_client import upload_all

    base = url or Settings().base_url
    failed = upload_all(paths, base, key, concurrency)
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except ImagelakeError as exc:  # our own errors are messages for the user, not tracebacks
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)
