"""Thumbnail throughput: VipsEngine against Pillow on the same camera-sized photos.

python -m bench.thumbnails    (the photos are built once, into bench/.data/thumbnails-v1)
"""

from __future__ import annotations

import io
import multiprocessing
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pyvips
from PIL import Image, ImageOps
from tests.photos import encode, large_photo, load_photo

from bench import _sharp
from imagelake.adapters.embedded.vips import VipsEngine, jpeg_shrink
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
_idle_rss = 0  # KiB: interpreter, libraries and the photos, before any work


def _start_worker(paths: list[Path], threads: int | None, ready: Barrier) -> None:
    global _engine, _idle_rss
    _photos[:] = [path.read_bytes() for path in paths]
    _engine = VipsEngine(max_pixels=100_000_000, threads=threads)
    # Load the codecs before the clock starts, on photos too small to raise the peak RSS.
    for fmt in ("jpeg", "png"):
        tiny = encode(load_photo("astronaut", 0.1), fmt)
        _engine.thumbnails(tiny, THREE)
        _pillow_resize(tiny)
        _pillow_thumbnail(tiny)
    _idle_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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


def _vips_decode(data: bytes) -> None:
    """libvips' decode alone, shrinking on load as VipsEngine does: a floor no thumbnailer
    built on these decoders gets under (it adds resizing and encoding)."""
    header = pyvips.Image.new_from_source(pyvips.Source.new_from_memory(data), "")
    options = {}
    if str(header.get("vips-loader")).startswith("jpegload"):
        options["shrink"] = jpeg_shrink(header.width, header.height, SIZE)
    source = pyvips.Source.new_from_memory(data)
    pyvips.Image.new_from_source(source, "", access="sequential", **options).copy_memory()


def _run(job: tuple[str, int]) -> tuple[int, float, int, int]:
    """Do one job; return the photo index, its CPU seconds, the peak and the idle RSS (KiB)."""
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
    elif method == "vips-decode":
        _vips_decode(data)
    elif method == "pillow-resize":
        _pillow_resize(data)
    else:
        _pillow_thumbnail(data)
    cpu = time.process_time() - start
    return index, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _idle_rss


# --- the driver --------------------------------------------------------------------------

METHODS = ("vips-1", "vips-3", "vips-decode", "pillow-resize", "pillow-thumbnail")
Job = tuple[str, int]


@dataclass(frozen=True)
class Results:
    cpu: dict[Job, list[float]]  # (method, photo index) -> CPU seconds of each such job
    wall: float
    jobs: int
    peak_rss_mb: float
    idle_rss_mb: float

    def cost(self, method: str, photos: list[int]) -> float:
        """CPU seconds for one pass of `method` over `photos` (each photo's fastest job)."""
        return sum(min(self.cpu[(method, index)]) for index in photos)


def run_pool(jobs: list[Job], paths: list[Path], processes: int, threads: int | None) -> Results:
    context = multiprocessing.get_context("spawn")  # libvips must not be forked
    ready = context.Barrier(processes + 1)
    with context.Pool(processes, _start_worker, (paths, threads, ready)) as pool:
        ready.wait()
        start = time.perf_counter()
        results = pool.map(_run, jobs, chunksize=1)
        wall = time.perf_counter() - start
    cpu: dict[Job, list[float]] = {}
    for job, (_, seconds, _, _) in zip(jobs, results, strict=True):
        cpu.setdefault(job, []).append(seconds)
    peak_kb = max(result[2] for result in results)
    idle_kb = max(result[3] for result in results)
    return Results(cpu, wall, len(jobs), peak_kb / 1024, idle_kb / 1024)


def compare(
    paths: list[Path], processes: int, threads: int | None
) -> tuple[list[str], int, Results]:
    """Every method on every photo, interleaved so that all of them see the same machine."""
    jobs = [(method, index) for _ in range(2) for index in range(len(paths)) for method in METHODS]
    results = run_pool(jobs, paths, processes, threads)
    everything = list(range(len(paths)))
    jpegs = [index for index, path in enumerate(paths) if path.suffix == ".jpg"]
    pngs = [index for index, path in enumerate(paths) if path.suffix == ".png"]
    ms = {method: results.cost(method, everything) * 1000 / len(paths) for method in METHODS}
    speedup = ms["pillow-resize"] / ms["vips-1"]
    ceiling = ms["pillow-resize"] / ms["vips-decode"]
    three = ms["vips-3"] / ms["vips-1"]
    by_format = [
        results.cost("pillow-resize", subset) / results.cost("vips-1", subset)
        for subset in (jpegs, pngs)
    ]
    ok_speed, ok_three = speedup >= TARGET_SPEEDUP, three <= TARGET_THREE_SIZES
    row = [
        str(processes),
        str(threads or "default"),
        *(f"{ms[method]:.0f}" for method in METHODS),
        f"**{speedup:.1f}x** {_verdict(ok_speed)}",
        f"{ceiling:.2f}x",
        f"{by_format[0]:.1f}x",
        f"{by_format[1]:.1f}x",
        f"**{three:.2f}x** {_verdict(ok_three)}",
    ]
    return row, (not ok_speed) + (not ok_three), results


def per_photo(paths: list[Path], results: Results, sharp: _sharp.SharpTimes | None) -> None:
    sharp_cells = ["sharp ms"] if sharp else []
    _table(
        [
            "photo",
            "MP",
            "vips-1 ms",
            "vips-3 ms",
            "decode alone ms",
            *sharp_cells,
            "pillow-resize ms",
            "speed-up",
        ]
    )
    for name, photos in [*((path.name, [i]) for i, path in enumerate(paths)), ("all", None)]:
        photos = photos or list(range(len(paths)))
        vips, three, decode, pillow = (
            results.cost(method, photos) * 1000
            for method in ("vips-1", "vips-3", "vips-decode", "pillow-resize")
        )
        megapixels = sum(_megapixels(paths[index]) for index in photos)
        cells = [f"{megapixels:.1f}", f"{vips:.0f}", f"{three:.0f}", f"{decode:.0f}"]
        if sharp:
            cells.append(f"{sharp.total([paths[index].name for index in photos]):.0f}")
        _row([name, *cells, f"{pillow:.0f}", f"{pillow / vips:.1f}x"])


def throughput(method: str, paths: list[Path], processes: int, threads: int | None) -> list[str]:
    """One method alone: wall-clock images/s and the workers' peak memory."""
    jobs = [(method, index) for index in range(len(paths))] * processes
    results = run_pool(jobs, paths, processes, threads)
    label = "-" if method.startswith("pillow") else str(threads or "default")
    return [
        method,
        str(processes),
        label,
        f"{results.jobs / results.wall:.1f}",
        f"{results.peak_rss_mb:.0f} MB ({results.idle_rss_mb:.0f} MB idle)",
    ]


def main() -> int:
    started = time.perf_counter()
    paths = build_photos()
    megapixels = sum(_megapixels(path) for path in paths)
    print(f"thumbnails: {len(paths)} photos, {megapixels:.0f} MP in all, long side -> {SIZE}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {_load()} at start")
    print("\nCPU ms per image (process CPU time incl. libvips threads; best of 2 per photo):\n")
    _table(
        [
            "processes",
            "libvips threads",
            *METHODS,
            f"vips-1 vs pillow-resize (>= {TARGET_SPEEDUP}x)",
            "decode alone vs pillow-resize",
            "JPEG only",
            "PNG only",
            f"vips-3 / vips-1 (<= {TARGET_THREE_SIZES}x)",
        ]
    )
    failures = 0
    sharp = _sharp.Baseline(DATA)  # installs sharp once, or knows why it is skipped
    for processes, threads in ((1, None), (1, 1), (2, 1)):
        row, failed, results = compare(paths, processes, threads)
        failures += failed
        _row(row)
        sharp.measure(row[:2], [path.name for path in paths], processes, results.cost)
    sharp.report()
    print("\nPer photo, in the last of those runs (all: the total for the 10 photos):\n")
    per_photo(paths, results, sharp.times)
    print("\nWall-clock throughput, one method at a time (at the mercy of the machine's load):\n")
    _table(["method", "processes", "libvips threads", "images/s", "peak RSS/worker"])
    for processes in (1, 2):
        for method in ("vips-1", "pillow-resize", "pillow-thumbnail"):
            for threads in (None, 1) if method.startswith("vips") else (None,):
                _row(throughput(method, paths, processes, threads))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak RSS of any worker: {children:.0f} MB; load {_load()} at the end; ", end="")
    print(f"took {time.perf_counter() - started:.0f} s")
    return 1 if failures else 0


def _table(header: list[str]) -> None:
    _row(header)
    _row(["---"] * len(header))


def _row(cells: list[str]) -> None:
    print("| " + " | ".join(cells) + " |", flush=True)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _megapixels(path: Path) -> float:
    with Image.open(path) as image:
        return image.width * image.height / 1e6


if __name__ == "__main__":
    sys.exit(main())
