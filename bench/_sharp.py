"""The sharp baseline for bench/thumbnails.py: sharp (Node.js, libvips; the engine of AWS's
Serverless Image Handler) on the same photos, timed by bench/sharp/bench.js.

Needs `node` and `npm` on PATH; sharp is installed once into bench/sharp/node_modules
(`npm ci`, prebuilt binaries). Without them the caller prints why and goes on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE

HERE = Path(__file__).parent / "sharp"


@dataclass(frozen=True)
class SharpTimes:
    version: str  # "sharp 0.35.5, libvips 8.18.7"
    one: dict[str, float]  # photo file name -> CPU ms of one 512 px thumbnail, best of rounds
    three: dict[str, float]  # the same for 128/256/512

    def total(self, names: list[str]) -> float:
        return sum(self.one[name] for name in names)


def install() -> str | None:
    """Install sharp unless it is there; None when ready, else why the baseline is skipped."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not on PATH"
    if (HERE / "node_modules" / "sharp" / "package.json").exists():
        return None
    locked = (HERE / "package-lock.json").exists()
    command = ["npm", "ci" if locked else "install", "--no-audit", "--no-fund"]
    try:
        subprocess.run(command, cwd=HERE, check=True, capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as exc:
        return f"`{' '.join(command)}` failed: {_last_line(exc.stderr)}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{' '.join(command)}` failed: {exc}"
    return None


def measure(directory: Path, processes: int, rounds: int = 2) -> SharpTimes | str:
    """Per photo, the best CPU ms over `rounds` passes, split over `processes` node processes
    running at the same time (so 2 processes each make rounds/2 passes); or why not."""
    command = ["node", str(HERE / "bench.js"), str(directory), str(max(1, rounds // processes))]
    children: list[subprocess.Popen[str]] = []
    try:
        for _ in range(processes):
            children.append(subprocess.Popen(command, stdout=PIPE, stderr=PIPE, text=True))
        outputs = [child.communicate(timeout=600) for child in children]
    except (OSError, subprocess.TimeoutExpired) as exc:
        for child in children:
            child.kill()
            child.wait()
        return f"node failed: {exc}"
    failed = [err for child, (_, err) in zip(children, outputs, strict=True) if child.returncode]
    if failed:
        return f"node failed: {_last_line(failed[0])}"
    try:
        reports = [json.loads(out) for out, _ in outputs]
        first = reports[0]

        def best(kind: str) -> dict[str, float]:
            return {name: min(r["photos"][name][kind] for r in reports) for name in first["photos"]}

        version = f"sharp {first['sharp']}, libvips {first['vips']}"
        return SharpTimes(version, best("one"), best("three"))
    except (ValueError, KeyError, TypeError) as exc:
        return f"unexpected output from bench.js: {exc!r}"


HEADER = [
    "processes",
    "libvips threads",
    "sharp ms",
    "sharp-3 ms",
    "sharp vs pillow-resize",
    "JPEG only",
    "PNG only",
    "vips-1 vs sharp",
    "JPEG only",
    "PNG only",
]


def row(
    cells: list[str], names: list[str], cost: Callable[[str, list[int]], float], sharp: SharpTimes
) -> list[str]:
    """`cells` (processes, threads) and sharp against that run's pillow-resize and vips-1;
    `cost(method, photo indexes)` is CPU seconds for one pass, as in thumbnails.Results."""
    everything = list(range(len(names)))
    subsets = (
        everything,
        [index for index, name in enumerate(names) if name.endswith(".jpg")],
        [index for index, name in enumerate(names) if name.endswith(".png")],
    )
    ms = [sharp.total([names[index] for index in subset]) / 1000 for subset in subsets]
    pillow = [cost("pillow-resize", subsets[i]) / ms[i] for i in range(3)]
    vips = [ms[i] / cost("vips-1", subsets[i]) for i in range(3)]
    three = sum(sharp.three[name] for name in names)
    return [
        *cells,
        f"{ms[0] * 1000 / len(names):.0f}",
        f"{three / len(names):.0f}",
        f"**{pillow[0]:.1f}x**",
        *(f"{ratio:.1f}x" for ratio in pillow[1:]),
        f"**{vips[0]:.2f}x**",
        *(f"{ratio:.2f}x" for ratio in vips[1:]),
    ]


class Baseline:
    """sharp next to the runs of bench/thumbnails.py: a table row after each, or one line
    saying why it was skipped."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.skipped = install()
        self.times: SharpTimes | None = None  # from the last measure()
        self.rows: list[list[str]] = []

    def measure(
        self,
        cells: list[str],
        names: list[str],
        processes: int,
        cost: Callable[[str, list[int]], float],
    ) -> None:
        """Right after a run: sharp in as many node processes, against that run's numbers."""
        if self.skipped is not None:
            return
        times = measure(self.directory, processes)
        if not isinstance(times, str) and set(names) - set(times.one):
            times = f"bench.js did not time {sorted(set(names) - set(times.one))}"
        if isinstance(times, str):
            self.skipped, self.times = times, None
        else:
            self.times = times
            self.rows.append(row(cells, names, cost, times))

    def report(self) -> None:
        if self.skipped is not None or self.times is None:
            print(f"\nsharp baseline skipped: {self.skipped}", flush=True)
            return
        print(f"\n{self.times.version}, run after each of those, in as many node processes,")
        print("sharp.concurrency(1); CPU ms per image, best of 2 per photo; vips-1 vs sharp is")
        print("sharp's CPU over vips-1's:\n")
        for cells in [HEADER, ["---"] * len(HEADER), *self.rows]:
            print("| " + " | ".join(cells) + " |", flush=True)


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
