"""Thumbnail throughput: VipsEngine against Pillow on the same camera-sized photos.

python -m bench.thumbnails    (the photos are built once into bench/.data/thumbnails)
"""

from __future__ import annotations

import io
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path

from PIL import Image, ImageOps
from tests.photos import encode, large_photo, load_photo

from imagelake.adapters.vips import VipsEngine
from imagelake.domain.images import ThumbnailSpec

DATA = Path(__file__).parent / ".data" / "thumbnails-v1"
# name, source photo, megapixels, EXIF orientation: phone-camera JPEGs, a photo saved as
# PNG, and a transparent graphic.
PHOTOS = [
    ("astronaut-12mp.jpg", "astronaut", 12.0, None),
    ("coffee-12mp-rot6.jpg", "coffee", 12.0, 6),
    ("chelsea-8mp.jpg", "chelsea", 8.0, None),
    ("rocket-10mp.jpg", "rocket", 10.0, None),
    ("motorcycle-6mp-rot6.jpg", "motorcycle", 6.0, 6),
    ("retina-9mp.jpg", "retina", 9.0, None),
    ("hubble-7mp.jpg", "hubble", 7.0, None),
    ("ihc-12mp.jpg", "ihc", 12.0, None),
    ("chelsea-4mp.png", "chelsea", 4.0, None),
    ("logo-4mp-alpha.png", "logo", 4.0, None),
]
SIZE = 512
ONE = ThumbnailSpec(sizes=(SIZE,))
THREE = ThumbnailSpec(sizes=(128, 256, SIZE))
TARGET_SPEEDUP = 4.0
TARGET_THREE_SIZES = 1.3


def build_photos() -> list[Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, source, megapixels, orientation in PHOTOS:
        path = DATA / filename
        if not path.exists():
            if filename.endswith("-alpha.png"):
                scale = (megapixels * 1e6 / 500**2) ** 0.5  # logo.png is 500x500 RGBA
                data = encode(load_photo(source, scale), "png")
            else:
                fmt = "png" if filename.endswith(".png") else "jpeg"
                data = large_photo(megapixels, source, fmt, orientation=orientation)
            path.with_suffix(".tmp").write_bytes(data)
            path.with_suffix(".tmp").rename(path)
        paths.append(path)
    return paths


# --- what runs in each worker process ----------------------------------------------------

_photos: list[bytes] = []
_engine: VipsEngine | None = None


def _start_worker(paths: list[Path], threads: int | None, ready: Barrier) -> None:
    global _engine
    _photos[:] = [path.read_bytes() for path in paths]
    _engine = VipsEngine(max_pixels=100_000_000, threads=threads)
    _engine.thumbnails(_photos[0], THREE)  # load the codecs before the clock starts
    Image.open(io.BytesIO(_photos[0])).load()
    ready.wait()


def _pillow_resize(data: bytes) -> bytes:
    """The naive service: decode every pixel, then a Lanczos resize."""
    with Image.open(io.BytesIO(data)) as image:
        full = image.convert("RGB")
    scale = SIZE / max(full.size)
    small = full.resize(
        (round(full.width * scale), round(full.height * scale)), Image.Resampling.LANCZOS
    )
    out = io.BytesIO()
    ImageOps.exif_transpose(small).save(out, "JPEG", quality=82)
    return out.getvalue()


def _pillow_thumbnail(data: bytes) -> bytes:
    """Pillow at its best: JPEG draft mode (DCT scaling) and reducing_gap."""
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((SIZE, SIZE))
        small = ImageOps.exif_transpose(image).convert("RGB")
    out = io.BytesIO()
    small.save(out, "JPEG", quality=82)
    return out.getvalue()


def _run(job: tuple[str, int]) -> tuple[int, float, int]:
    """Do one job; return the photo index, the CPU seconds it took and the peak RSS (KiB)."""
    method, index = job
    data = _photos[index]
    assert _engine is not None
    # CPU time of the whole process, libvips' threads included; wall time on a shared,
    # loaded machine says more about the neighbours than about the code.
    start = time.process_time()
    if method == "vips-1":
        _engine.thumbnails(data, ONE)
    elif method == "vips-3":
        _engine.thumbnails(data, THREE)
    elif method == "pillow-resize":
        _pillow_resize(data)
    else:
        _pillow_thumbnail(data)
    cpu = time.process_time() - start
    return index, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- the driver --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    method: str
    processes: int
    threads: int | None
    images: int
    wall: float
    cpu_seconds: dict[int, list[float]]  # photo index -> CPU seconds of each of its jobs
    peak_rss_mb: float

    @property
    def per_core(self) -> float:
        """Images per CPU-second: the throughput of one fully used core."""
        return self.images / sum(sum(times) for times in self.cpu_seconds.values())


def measure(
    method: str, paths: list[Path], processes: int, rounds: int, threads: int | None = None
) -> Run:
    context = multiprocessing.get_context("spawn")  # libvips must not be forked
    ready = context.Barrier(processes + 1)
    jobs = [(method, index) for _ in range(rounds) for index in range(len(paths))]
    with context.Pool(processes, _start_worker, (paths, threads, ready)) as pool:
        ready.wait()
        start = time.perf_counter()
        results = pool.map(_run, jobs, chunksize=1)
        wall = time.perf_counter() - start
    cpu_seconds: dict[int, list[float]] = {}
    for index, seconds, _ in results:
        cpu_seconds.setdefault(index, []).append(seconds)
    peak_kb = max(rss for _, _, rss in results)
    return Run(method, processes, threads, len(jobs), wall, cpu_seconds, peak_kb / 1024)


def format_share(run: Run, paths: list[Path], suffix: str) -> float:
    """Median CPU seconds per image, summed over the photos of one format."""
    return sum(
        statistics.median(times)
        for index, times in run.cpu_seconds.items()
        if paths[index].suffix == suffix
    )


def main() -> int:
    started = time.perf_counter()
    paths = build_photos()
    megapixels = sum(_megapixels(path) for path in paths)
    print(f"thumbnails: {len(paths)} photos, {megapixels:.0f} MP in all, long side -> {SIZE}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {_load()} at start")
    runs: list[Run] = []
    for processes in (1, 2):
        for threads in (None, 1):
            runs.append(measure("vips-1", paths, processes, rounds=2, threads=threads))
            runs.append(measure("vips-3", paths, processes, rounds=2, threads=threads))
        runs.append(measure("pillow-resize", paths, processes, rounds=1))
        runs.append(measure("pillow-thumbnail", paths, processes, rounds=1))
    print(f"load {_load()} at the end; per-core figures are images per CPU-second\n")
    print(
        "| method | processes | libvips threads | CPU ms/image | per core (img/CPU-s) "
        "| vs Pillow resize | wall img/s | peak RSS/worker |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        base = _find(runs, "pillow-resize", run.processes)
        vips_threads = str(run.threads or "default")
        threads_label = "-" if run.method.startswith("pillow") else vips_threads
        print(
            f"| {run.method} | {run.processes} | {threads_label} | {1000 / run.per_core:.0f} "
            f"| {run.per_core:.2f} | {run.per_core / base.per_core:.1f}x "
            f"| {run.images / run.wall:.2f} | {run.peak_rss_mb:.0f} MB |"
        )
    print()
    failures = 0
    for processes in (1, 2):
        base = _find(runs, "pillow-resize", processes)
        for threads in (None, 1):
            one = _find(runs, "vips-1", processes, threads)
            three = _find(runs, "vips-3", processes, threads)
            speedup = one.per_core / base.per_core
            cost = one.per_core / three.per_core
            ok_speed, ok_cost = speedup >= TARGET_SPEEDUP, cost <= TARGET_THREE_SIZES
            failures += (not ok_speed) + (not ok_cost)
            print(
                f"{processes} process(es), libvips threads {threads or 'default'}: "
                f"one size {speedup:.1f}x Pillow resize per core (>= {TARGET_SPEEDUP}x) "
                f"{_verdict(ok_speed)}; three sizes {cost:.2f}x one (<= {TARGET_THREE_SIZES}x) "
                f"{_verdict(ok_cost)}"
            )
    vips, pillow = _find(runs, "vips-1", 1, 1), _find(runs, "pillow-resize", 1)
    for suffix in (".jpg", ".png"):
        ratio = format_share(pillow, paths, suffix) / format_share(vips, paths, suffix)
        print(f"{suffix[1:].upper()} photos only (1 process): vips-1 {ratio:.1f}x Pillow resize")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of any worker: {children:.0f} MB; took {time.perf_counter() - started:.0f} s")
    return 1 if failures else 0


def _find(runs: list[Run], method: str, processes: int, threads: int | None = None) -> Run:
    return next(
        run
        for run in runs
        if (run.method, run.processes, run.threads) == (method, processes, threads)
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _megapixels(path: Path) -> float:
    with Image.open(path) as image:
        return image.width * image.height / 1e6


if __name__ == "__main__":
    sys.exit(main())
