"""Upload -> ready through the HTTP API, against Pillow doing the same thumbnails itself.

- service: a real `imagelake serve` (2 workers) on loopback; the clock runs from the first
  POST /images until every image reports `ready` (three sizes each, stored, recorded).
- pillow loop: one process, for each photo and each size: open, `.thumbnail()`, save.
- pillow pipeline: one decode per photo, the three sizes from it, two worker threads.

Each is run `--rounds` times, interleaved, and the best round counts (the machine is shared).
`python -m bench.upload [--rounds N] [--clients C]`
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps
from tests.e2e.service import Service

from bench.thumbnails import build_photos

SIZES = (512, 256, 128)
QUALITY = 82
VARIANTS = 3  # distinct copies of each photo per round: the service dedupes equal bytes
TARGET = 3.0  # x the Pillow loop, wall clock, upload -> ready


def tagged(jpeg: bytes, tag: str) -> bytes:
    """The same photo with a JPEG comment segment added: new bytes, same pixels."""
    comment = tag.encode()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]


def _save(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def pillow_loop(photos: list[bytes]) -> None:
    """The naive worker: every size decoded on its own (JPEG draft mode does help it)."""
    for data in photos:
        for size in SIZES:
            with Image.open(io.BytesIO(data)) as image:
                image.thumbnail((size, size))
                _save(ImageOps.exif_transpose(image))


def _pipeline_one(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((SIZES[0], SIZES[0]))  # the one decode, shrunk while loading
        largest = ImageOps.exif_transpose(image).convert("RGB")
    _save(largest)
    for size in SIZES[1:]:
        smaller = largest.copy()
        smaller.thumbnail((size, size))
        _save(smaller)


def pillow_pipeline(photos: list[bytes]) -> None:
    """A simple, decent Pillow service: one decode per photo, two worker threads."""
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(_pipeline_one, photos))


@dataclass
class ServiceRun:
    seconds: float
    cpu_seconds: float  # API process and workers together


def through_service(svc: Service, photos: list[bytes], clients: int) -> ServiceRun:
    """POST every photo, then wait until the service says each one is ready."""
    cpu_before = process_group_cpu(svc)
    start = time.perf_counter()
    with svc.client() as client, ThreadPoolExecutor(clients) as pool:

        def post(data: bytes) -> str:
            reply = client.post("/images", content=data, headers={"Content-Type": "image/jpeg"})
            assert reply.status_code == 201, reply.text
            image_id: str = reply.json()["image_id"]
            return image_id

        waiting = set(pool.map(post, photos))
        while waiting:
            time.sleep(0.05)
            # Newest first: this batch is the first page, and a small page is a cheap poll.
            page = client.get("/images", params={"limit": len(photos)}).json()["images"]
            failed = [i for i in page if i["status"] == "failed" and i["image_id"] in waiting]
            assert not failed, failed
            waiting -= {i["image_id"] for i in page if i["status"] == "ready"}
    seconds = time.perf_counter() - start
    return ServiceRun(seconds, process_group_cpu(svc) - cpu_before)


def process_group_cpu(svc: Service) -> float:
    """User + system CPU seconds of every live process of the service (Linux /proc)."""
    assert svc.proc is not None
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == svc.proc.pid:  # the process group: serve started a new session
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def timed(work: Callable[[list[bytes]], None], photos: list[bytes]) -> tuple[float, float]:
    """Wall and CPU seconds of one in-process run."""
    wall, cpu = time.perf_counter(), time.process_time()
    work(photos)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv if argv is not None else [])
    sources = [p.read_bytes() for p in build_photos() if p.suffix == ".jpg"]
    megapixels = [_megapixels(data) for data in sources]
    print(
        f"upload: {len(sources) * VARIANTS} camera JPEGs per round "
        f"({min(megapixels):.0f}-{max(megapixels):.0f} MP), sizes {SIZES}, "
        f"{os.cpu_count()} cores, load {_load()} at start"
    )
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def keep(name: str, seconds: float, cpu_seconds: float) -> None:
        if seconds < best.get(name, float("inf")):
            best[name], cpu[name] = seconds, cpu_seconds

    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        unlimited = {"IMAGELAKE_RATE_LIMIT": ""}  # one key uploads everything
        svc = Service(Path(tmp) / "data", extra_env=unlimited, workers=2).start()
        try:
            warm_up = through_service(svc, [tagged(sources[0], "warm-up")], 1)
            print(f"service up; first image ready in {warm_up.seconds:.2f} s (not counted)")
            for round_ in range(args.rounds):
                photos = [
                    tagged(data, f"round {round_} copy {copy}")
                    for copy in range(VARIANTS)
                    for data in sources
                ]
                keep("pillow loop", *timed(pillow_loop, photos))
                keep("pillow pipeline", *timed(pillow_pipeline, photos))
                run = through_service(svc, photos, args.clients)
                keep("service", run.seconds, run.cpu_seconds)
        finally:
            svc.stop()
    count = len(sources) * VARIANTS
    base = count / best["pillow loop"]
    print(f"load {_load()} at the end; best of {args.rounds} round(s)\n")
    print("| method | images/s (wall) | vs Pillow loop | CPU ms/image |")
    print("|---|---|---|---|")
    for name in ("pillow loop", "pillow pipeline", "service"):
        rate = count / best[name]
        print(f"| {name} | {rate:.2f} | {rate / base:.1f}x | {1000 * cpu[name] / count:.0f} |")
    ratio = (count / best["service"]) / base
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    thrift = cpu["pillow loop"] / cpu["service"]
    print(f"\nCPU per image, API and workers together: {thrift:.1f}x less than the Pillow loop")
    print(f"upload -> ready through the API: {ratio:.2f}x the Pillow loop (>= {TARGET}x) {verdict}")
    return 0 if ratio >= TARGET else 1


def _megapixels(data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as image:
        return image.width * image.height / 1e6


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
