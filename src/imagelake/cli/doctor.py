"""`imagelake doctor`: the catalog checked against the blob stores, and repaired on request."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from imagelake.config import Settings
from imagelake.services.doctor import DEFAULT_GRACE, REPAIRS, Checkup, Finding


def doctor(
    repair: Annotated[
        bool, typer.Option(help="Re-queue lost thumbnails, delete blobs no record names")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds an original may go without a record (uploads)")
    ] = DEFAULT_GRACE.total_seconds(),
) -> None:
    """Compare the catalog and the blobs; exit 1 while a problem is left unrepaired."""
    from imagelake.runtime.serve import open_services

    checkup = Checkup()
    with open_services(Settings()) as wired:
        findings = wired.doctor.examine(checkup, repair=repair, grace=timedelta(seconds=grace))
        if as_json:
            typer.echo('{"problems": [', nl=False)
            for index, finding in enumerate(findings):
                typer.echo(("," if index else "") + json.dumps(_row(finding)), nl=False)
            typer.echo(f'], "summary": {json.dumps(_summary(checkup))}}}')
        else:
            for finding in findings:
                typer.echo(_line(finding))
            typer.echo(_summary_line(checkup, repair))
    raise typer.Exit(1 if checkup.unrepaired else 0)


def _row(finding: Finding) -> dict[str, object]:
    return {
        "problem": str(finding.problem),
        "image_id": finding.image_id,
        "keys": list(finding.keys),
        "repaired": finding.repaired,
    }


def _line(finding: Finding) -> str:
    keys = ", ".join(finding.keys[:3]) + (" ..." if len(finding.keys) > 3 else "")
    done = f" ({REPAIRS[finding.problem]})" if finding.repaired else ""
    return f"{finding.problem} {finding.image_id}: {keys or 'no thumbnails'}{done}"


def _summary(checkup: Checkup) -> dict[str, object]:
    return {
        "checked": {
            "images": checkup.images,
            "originals": checkup.originals,
            "thumbnails": checkup.thumbnails,
        },
        "found": {str(problem): count for problem, count in checkup.found.items()},
        "repaired": {str(problem): count for problem, count in checkup.repaired.items() if count},
        "unrepaired": checkup.unrepaired,
    }


def _summary_line(checkup: Checkup, repair: bool) -> str:
    checked = (
        f"checked {checkup.images} images, {checkup.originals} originals, "
        f"{checkup.thumbnails} thumbnails"
    )
    if not checkup.found:
        return f"{checked}: no problems"
    found = ", ".join(f"{count} {problem}" for problem, count in checkup.found.items())
    if not repair:
        return f"{checked}: {found} (--repair repairs all but missing originals)"
    return f"{checked}: {found}; {checkup.unrepaired} left unrepaired"
