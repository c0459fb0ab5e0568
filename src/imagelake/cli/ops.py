"""Operator commands: raw events onto the queue, dead letters out of it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagelake.config import Settings
from imagelake.services.operations import QueueName

events_app = typer.Typer(help="The observer's event queue.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: list, replay, purge.", no_args_is_help=True)
err = Console(stderr=True)


QueueOpt = Annotated[QueueName, typer.Option("--queue", help="Which queue's dead letters")]


@events_app.command("send")
def events_send(
    files: Annotated[list[str], typer.Argument(help="Files, one payload each; - for stdin")],
    lines: Annotated[bool, typer.Option(help="Each line of each file is one payload")] = False,
) -> None:
    """Put raw payloads on the queue, unvalidated, exactly as a queue console would."""
    from imagelake.runtime.serve import open_services

    bodies: list[bytes] = []
    for name in files:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        if lines:
            bodies.extend(line for line in data.splitlines() if line.strip())
        else:
            bodies.append(data)
    with open_services(Settings()) as wired:
        wired.operations.send_raw_events(bodies)
    err.print(f"sent {len(bodies)} payload(s)")


@dlq_app.command("list")
def dlq_list(
    queue: QueueOpt = QueueName.events,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
    limit: int = 100,
) -> None:
    """Dead letters, newest first: the payload, why, how many attempts, when."""
    from imagelake.runtime.serve import open_services

    with open_services(Settings()) as wired:
        letters = wired.operations.dead_letters(queue, limit)
    if as_json:
        for d in letters:
            row = {
                "id": d.dead_letter_id,
                "queue": str(queue),
                "reason": d.reason,
                "attempts": d.attempts,
                "sent_at": datetime.fromtimestamp(d.sent_at, UTC).isoformat(),
                "dead_at": datetime.fromtimestamp(d.dead_at, UTC).isoformat(),
                "body": d.body.decode("utf-8", "replace"),
            }
            typer.echo(json.dumps(row))
        return
    table = Table("id", "reason", "attempts", "dead at", "payload")
    for d in letters:
        when = datetime.fromtimestamp(d.dead_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        preview = d.body[:60].decode("utf-8", "replace").replace("\n", " ")
        table.add_row(d.dead_letter_id, d.reason, str(d.attempts), when, preview)
    Console().print(table)


@dlq_app.command("replay")
def dlq_replay(
    dead_letter_id: Annotated[str | None, typer.Argument(help="One id (see dlq list)")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter")] = False,
    queue: QueueOpt = QueueName.events,
) -> None:
    """Put dead letters back on their queue."""
    from imagelake.runtime.serve import open_services

    if bool(dead_letter_id) == replay_all:
        raise typer.BadParameter("give one ID or --all")
    with open_services(Settings()) as wired:
        count = wired.operations.replay(queue, None if replay_all else dead_letter_id)
    err.print(f"replayed {count} dead letter(s)")


@dlq_app.command("purge")
def dlq_purge(queue: QueueOpt = QueueName.events) -> None:
    """Delete every dead letter of the queue."""
    from imagelake.runtime.serve import open_services

    with open_services(Settings()) as wired:
        count = wired.operations.purge(queue)
    err.print(f"purged {count} dead letter(s)")
