"""`imagelake lake ...` and `imagelake report`: the event lake at a terminal."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from imagelake.config import Settings
from imagelake.domain.errors import ImagelakeError
from imagelake.lake.reports import Filters, GroupBy, Summary, report_payload

if TYPE_CHECKING:
    from imagelake.bootstrap import Lake

lake_app = typer.Typer(
    help="The event lake: compaction to Parquet, Athena tables, quarantined batches."
)
err = Console(stderr=True, soft_wrap=True, highlight=False)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


HEADERS = {
    "unique_users": "users",
    "unique_images": "images",
    "last_requested_at": "last request",
}
SinceOpt = Annotated[
    str | None, typer.Option(metavar="YYYY-MM-DD", help="First day (UTC), inclusive")
]
UntilOpt = Annotated[
    str | None, typer.Option(metavar="YYYY-MM-DD", help="Last day (UTC), inclusive")
]


@contextmanager
def _lake() -> Iterator[Lake]:
    from imagelake.bootstrap import build, lake

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    container = build(settings)
    try:
        yield lake(container)
    finally:
        container.close()


@lake_app.command("compact")
def lake_compact(
    day: Annotated[str | None, typer.Option("--date", help="Only this day (YYYY-MM-DD)")] = None,
    all_hours: Annotated[
        bool, typer.Option("--all-hours", help="Compact the running hour too")
    ] = False,
) -> None:
    """Rewrite raw JSONL partitions as deduplicated zstd Parquet; raw files stay."""
    with _lake() as lake:
        report = lake.compactor.compact(_day(day), all_hours)
    for c in report.compacted:
        err.print(
            f"{c.partition.event_name} {c.partition.dt}: {c.events:,} events "
            f"from {c.raw_objects:,} raw batches ({c.new_objects:,} new), "
            f"{c.duplicates_dropped:,} duplicates dropped"
        )
    for key in report.quarantined:
        err.print(f"quarantined {key}: DuckDB cannot read it (see `imagelake lake quarantine`)")
    rate = report.lines_read / report.seconds if report.seconds else 0.0
    err.print(
        f"compacted {len(report.compacted)} partition(s), {report.events:,} events "
        f"({report.duplicates_dropped:,} duplicates dropped) in {report.seconds:.1f} s "
        f"({rate:,.0f} lines/s); {report.up_to_date} already "
        f"up to date; {report.open_objects} batch(es) of open hours left raw; "
        f"{len(report.quarantined)} unreadable batch(es) quarantined"
    )


@lake_app.command("quarantine")
def lake_quarantine(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Raw batches set aside because DuckDB cannot read them: where each was, why, when."""
    from imagelake.lake.quarantine import QUARANTINE_PREFIX

    with _lake() as lake:
        entries = lake.quarantine.entries()
    if as_json:
        for e in entries:
            when = e.quarantined_at.isoformat() if e.quarantined_at else None
            row = {"key": e.key, "reason": e.reason, "quarantined_at": when, "bytes": e.bytes}
            typer.echo(json.dumps(row))
        return
    if not entries:
        err.print("nothing is quarantined")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("key", overflow="fold")  # a key is only of use whole
    table.add_column("reason")
    table.add_column("quarantined at", no_wrap=True)
    table.add_column("bytes", justify="right")
    for e in entries:
        when = e.quarantined_at.strftime("%Y-%m-%d %H:%M:%S") if e.quarantined_at else "?"
        table.add_row(e.key, e.reason, when, f"{e.bytes:,}")
    Console().print(table)
    err.print(f"{len(entries)} batch(es) in {QUARANTINE_PREFIX}/, each beside its .reason.json")


@lake_app.command("athena-ddl")
def lake_athena_ddl(
    database: Annotated[str, typer.Option(help="Athena database name")] = "imagelake",
    location: Annotated[
        str | None, typer.Option(help="s3:// root of the lake (default: IMAGELAKE_ARCHIVE)")
    ] = None,
) -> None:
    """Print CREATE EXTERNAL TABLE statements (raw JSON and Parquet) for Athena."""
    from imagelake.lake.athena import PLACEHOLDER_LOCATION, athena_ddl, lake_location

    root = (location or lake_location(Settings().archive_url)).rstrip("/")
    if root == PLACEHOLDER_LOCATION:
        err.print("IMAGELAKE_ARCHIVE is no s3:// URL: replace the placeholder bucket below.")
    typer.echo(athena_ddl(root, database), nl=False)


def report(
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        GroupBy, typer.Option(help="Group requests by day, image, user or variant")
    ] = GroupBy.day,
    top: Annotated[
        int, typer.Option(min=1, max=1000, help="Rows for --by image|user|variant")
    ] = 10,
    image: Annotated[str | None, typer.Option(help="Only requests of this image id")] = None,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", help="Default: table on a terminal, json when piped"),
    ] = None,
) -> None:
    """Requests per day, top images (with unique users), users or variants, from the lake."""

    filters = _filters(since, until, image)
    fmt = fmt or (Format.table if sys.stdout.isatty() else Format.json)
    with _lake() as lake:
        rows = lake.analytics.requests(by, filters, top)
        payload = report_payload(by, filters, top, rows)
        summary = lake.analytics.summary(filters) if fmt == Format.table else None
    if summary is not None:
        _print_table(payload, summary)
    elif fmt == Format.json:
        typer.echo(json.dumps(payload, indent=2))
    else:
        typer.echo(_csv(payload["rows"]), nl=False)


def _filters(since: str | None, until: str | None, image: str | None) -> Filters:

    try:
        return Filters(_day(since), _day(until), image)
    except ImagelakeError as exc:
        raise typer.BadParameter(str(exc)) from None


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def _print_table(payload: dict[str, Any], summary: Summary) -> None:
    span = f"{payload['since'] or 'start'} .. {payload['until'] or 'now'}"
    titles = {
        "day": "Requests per day",
        "image": "Top images",
        "user": "Top users",
        "variant": "Top variants",
    }
    title = f"{titles[payload['by']]}, {span} (UTC)"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    rows = payload["rows"]
    for name in list(rows[0]) if rows else ["requests"]:
        if name.endswith("_id") or name == "variant":  # names wrap, never lose characters
            table.add_column(name.removesuffix("_id"), overflow="fold")
        else:
            left = name in ("day", "last_requested_at")
            header = HEADERS.get(name, name)
            table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(_cell(name, value) for name, value in row.items()))
    table.caption = (
        f"{summary.requests:,} requests of {summary.images:,} images by {summary.users:,} users"
    )
    Console().print(table)


def _cell(name: str, value: object) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if name.endswith("_at") and isinstance(value, str):
        return value[:19].replace("T", " ")  # the title says UTC
    return str(value)
