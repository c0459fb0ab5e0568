"""The `imagelake upload` client: many files, a few at a time, over HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def collect(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.parts)
            )
        else:
            files.append(path)
    return files


def _send(client: httpx.Client, path: Path) -> tuple[str, str]:
    try:
        reply = client.post(
            "/images",
            content=path.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
    except (OSError, httpx.HTTPError) as exc:
        return "failed", str(exc)
    if reply.status_code in (200, 201):
        body = reply.json()
        return ("duplicate" if body.get("duplicate") else "new"), body["image_id"]
    try:
        message = reply.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = reply.text[:200]
    return "failed", f"HTTP {reply.status_code}: {message}"


def upload_all(paths: list[Path], base_url: str, key: str | None, concurrency: int) -> int:
    """Upload every file; print a summary; return how many failed."""
    console = Console(stderr=True)
    files = collect(paths)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    counts: Counter[str] = Counter()
    failures: list[tuple[Path, str]] = []
    columns = (TextColumn("uploading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=120) as client,
        Progress(*columns, console=console) as progress,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        task = progress.add_task("upload", total=len(files))
        futures = {pool.submit(_send, client, path): path for path in files}
        for future in as_completed(futures):
            outcome, detail = future.result()
            counts[outcome] += 1
            if outcome == "failed":
                failures.append((futures[future], detail))
            progress.advance(task)
    table = Table("outcome", "files")
    for outcome in ("new", "duplicate", "failed"):
        table.add_row(outcome, str(counts[outcome]))
    console.print(table)
    for path, detail in failures:
        console.print(f"[red]failed[/] {path}: {detail}")
    return counts["failed"]
