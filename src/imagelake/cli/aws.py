"""`imagelake aws ...`: the AWS shape's operator commands."""

from __future__ import annotations

import typer
from rich.console import Console

from imagelake.config import Settings

aws_app = typer.Typer(help="The AWS shape: S3, DynamoDB, SQS, SNS.", no_args_is_help=True)
err = Console(stderr=True)


@aws_app.command("provision")
def provision() -> None:
    """Create the missing buckets, tables, queues (+DLQs) and topic the settings name.

    For a dev account or an emulator; real deployments use deploy/template.yaml.
    """
    from imagelake.bootstrap import provision as provision_all
    from imagelake.domain.errors import ImagelakeError

    try:
        done = provision_all(Settings())
    except ImagelakeError as exc:
        err.print(f"[red]provisioning failed:[/] {exc}")
        raise typer.Exit(1) from None
    for line in done:
        typer.echo(line)
