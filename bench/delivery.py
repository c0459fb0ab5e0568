"""Delivery of resized images over HTTP: imagelake against thumbor 7 and ipx (sharp), on the
same photos, the same URLs and the same load, in the same run.

- cold renders: every request is a render. thumbor (no result storage) and ipx (no cache)
  render every request anyway; imagelake renders a delivery URL once and then serves it from
  its cache, so each request asks for a (photo, box) pair not asked for before: boxes of
  511, 509, 507 ... px (c=2) and 510, 508 ... (c=8), the photos in turn. All three servers get
  the same list. Fit inside the box, JPEG, quality 80.
- cache hits (imagelake only): one signed URL per JPEG (fresh copies of them), asked again
  and again at 8 and 32 connections; afterwards every hit must be counted in the images'
  request statistics (GET /images/{id}/stats, `request_count`).

Every server is first checked on every photo in the 512 px box: a baseline JPEG whose long
side is 512. thumbor runs as one single-process instance per core behind nginx (installed
from Debian's packages if missing); ipx as one node process (see bench/peers/ipx/server.mjs).

Baseline in the same run: libvips' own thumbnail (pyvips, in this process) of each photo to
the same box, the CPU floor of a render with these decoders. Load from `wrk` on loopback
(a Lua script walks the list, each wrk thread its own share).

The peers are installed on first use, into gitignored folders: thumbor in its own venv
(bench/peers/thumbor-venv, `pip install 'thumbor>=7,<8'`), ipx from npm
(bench/peers/ipx/node_modules, `npm ci`), wrk and nginx from Debian's packages if missing.

`python -m bench.delivery [--seconds S] [--servers imagelake,thumbor,ipx] [--check]`
(`BENCH_DELIVERY_SECONDS` sets the default length of each wrk run: 10 s.)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pyvips
from libthumbor import CryptoURL
from tests.e2e.service import Service
from tests.moto_server import free_port
from tests.photos import large_photo

from bench.events import cpu_seconds
from bench.upload import tagged

HERE = Path(__file__).parent
PEERS = HERE / "peers"
THUMBOR_VENV = PEERS / "thumbor-venv"
THUMBOR_SPEC = "thumbor>=7,<8"
IPX = PEERS / "ipx"
DATA = HERE / ".data" / "delivery-v1"

SIZE = 512  # the box of the checks and of the cache hits; cold boxes are 511 px and down
QUALITY = 80
SECONDS = int(os.environ.get("BENCH_DELIVERY_SECONDS", "10"))
CEILING = 100  # renders/s no server gets near on 2 cores: how many distinct URLs a run needs
COLD = ((2, 1), (8, 2))  # (connections, wrk threads)
HITS = ((8, 2), (32, 2))
TARGET_VS_THUMBOR = 1.5  # imagelake's cold req/s over thumbor's
TARGET_VS_IPX = 1.1
TARGET_HITS = 3000.0  # req/s, at the better of the two concurrencies
SERVERS = ("imagelake", "thumbor", "ipx")
THUMBOR_KEY = "imagelake-bench-delivery"  # thumbor's URL signing key (HMAC-SHA1, libthumbor)

# name, source photo (tests/photos.py), megapixels, noise seed: camera JPEGs, all upright (no
# EXIF orientation: thumbor's RESPECT_ORIENTATION rotates the full-size image before the
# resize, which would measure one photo's tag, not the servers).
JPEGS = [
    ("astronaut-12mp.jpg", "astronaut", 12.0, 0),
    ("coffee-12mp.jpg", "coffee", 12.0, 0),
    ("ihc-12mp.jpg", "ihc", 12.0, 0),
    ("chelsea-11mp.jpg", "chelsea", 11.0, 1),
    ("rocket-10mp.jpg", "rocket", 10.0, 0),
    ("retina-9mp.jpg", "retina", 9.0, 0),
    ("coffee-9mp.jpg", "coffee", 9.0, 1),
    ("chelsea-8mp.jpg", "chelsea", 8.0, 0),
    ("hubble-7mp.jpg", "hubble", 7.0, 0),
    ("rocket-7mp.jpg", "rocket", 7.0, 1),
    ("motorcycle-6mp.jpg", "motorcycle", 6.0, 0),
    ("astronaut-6mp.jpg", "astronaut", 6.0, 1),
]
MIXED = [
    ("chelsea-4mp.png", "chelsea", 4.0, 2),
    ("motorcycle-4mp.png", "motorcycle", 4.0, 2),
    ("astronaut-4mp.png", "astronaut", 4.0, 2),
    ("coffee-6mp.webp", "coffee", 6.0, 2),
    ("hubble-6mp.webp", "hubble", 6.0, 2),
    ("ihc-6mp.webp", "ihc", 6.0, 2),
]

Pair = tuple[str, int]  # (photo file name, box side in px)


def build_photos() -> list[Path]:
    """The photos, made once into bench/.data/delivery-v1 (gitignored)."""
    DATA.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, source, megapixels, seed in JPEGS + MIXED:
        path = DATA / filename
        if not path.exists():
            fmt = {".jpg": "jpeg", ".png": "png", ".webp": "webp"}[path.suffix]
            data = large_photo(megapixels, source, fmt, seed=seed)
            path.with_suffix(".tmp").write_bytes(data)
            path.with_suffix(".tmp").rename(path)
        paths.append(path)
    return paths


def plan(photos: Sequence[str], phase: int, phases: int, count: int) -> list[Pair]:
    """`count` distinct (photo, box) pairs, the photos in turn: phase p of n gets the boxes
    511 - p, 511 - p - n, ... so no two phases share a pair and all cost about the same."""
    return [
        (photos[n % len(photos)], SIZE - 1 - phase - phases * (n // len(photos)))
        for n in range(count)
    ]


# --- installing the peers -------------------------------------------------------------------


def _run(command: Sequence[str | Path], cwd: Path | None = None, timeout: float = 900) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"`{' '.join(map(str, command))}` failed: {_last_line(done.stderr)}")
    return done.stdout


def _run_stderr(command: Sequence[str | Path]) -> str:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    return done.stderr + done.stdout


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def install_thumbor() -> str | None:
    """thumbor 7 in its own venv unless it is there: None when ready, else why not."""
    marker = THUMBOR_VENV / ".installed"
    if marker.exists() and (THUMBOR_VENV / "bin" / "thumbor").exists():
        return None
    python = shutil.which("python3.11") or sys.executable
    try:
        _run([python, "-m", "venv", "--clear", THUMBOR_VENV])
        pip = THUMBOR_VENV / "bin" / "pip"
        _run([pip, "install", "--quiet", "--disable-pip-version-check", THUMBOR_SPEC])
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"thumbor install failed: {exc}"
    marker.write_text(THUMBOR_SPEC + "\n")
    return None


def install_ipx() -> str | None:
    """ipx (and sharp, prebuilt) from bench/peers/ipx/package-lock.json unless it is there."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not on PATH"
    if (IPX / "node_modules" / "ipx" / "package.json").exists():
        return None
    locked = (IPX / "package-lock.json").exists()
    try:
        _run(["npm", "ci" if locked else "install", "--no-audit", "--no-fund"], cwd=IPX)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"ipx install failed: {exc}"
    return None


def install_deb(program: str, package: str) -> str | None:
    """A program from Debian's packages unless it is on PATH: None when there, else why not.
    (Services are not started by the install: the bench runs its own.)"""
    if shutil.which(program):
        return None
    if shutil.which("apt-get") is None:
        return f"{program} not on PATH and no apt-get to install it"
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    install = [*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q"]
    install += ["--no-install-recommends", package]
    try:
        _run(install)
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        try:  # an old or empty package list: fetch it once, then try again
            _run([*sudo, "apt-get", "update", "-q"])
            _run(install)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            return f"{package} install failed: {exc}"
    return None if shutil.which(program) else f"{program} still not on PATH"


# --- the servers ------------------------------------------------------------------------------


@dataclass
class Target:
    """A running server: where it listens, how a (photo, box) pair is asked for, its process."""

    name: str
    version: str
    base_url: str
    pids: list[int]  # its processes: CPU is counted over them and their descendants
    paths: Callable[[Sequence[Pair]], list[str]]  # the request paths (and queries) of pairs
    notes: list[str] = field(default_factory=list)


@contextmanager
def _process(command: Sequence[str | Path], log: Path, cwd: Path | None = None) -> Iterator[int]:
    """A child in its own session, its output in `log`; the whole group ended on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(part) for part in command],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc.pid
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            proc.wait(5)


def _wait_http(url: str, pid: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise RuntimeError(f"exited: {_last_line(log.read_text(errors='replace'))}") from None
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer at {url} after {timeout:.0f} s")


THUMBOR_CONF = """\
# written by bench/delivery.py
LOADER = "thumbor.loaders.file_loader"
FILE_LOADER_ROOT_PATH = {photos!r}
STORAGE = "thumbor.storages.no_storage"  # originals not kept: read from the folder each time
RESULT_STORAGE = None  # no result storage: every request renders
ENGINE = "thumbor.engines.pil"  # thumbor 7's only imaging engine (gif.py is gifsicle's)
ENGINE_THREADPOOL_SIZE = 0  # render on the IOLoop: one render at a time per process
SECURITY_KEY = {key!r}
ALLOW_UNSAFE_URL = False  # signed URLs only, as imagelake checks its signatures
AUTO_WEBP = False
AUTO_AVIF = False
QUALITY = {quality}
PROGRESSIVE_JPEG = False  # baseline JPEG, as the other two write (thumbor's default: True)
RESPECT_ORIENTATION = True  # as the other two do (no-op here: the photos are upright)
MAX_AGE = 3600
"""


NGINX_CONF = """\
# written by bench/delivery.py: thumbor's processes behind one port, each request to the least busy
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-body;
  proxy_temp_path {work}/nginx-proxy;
  fastcgi_temp_path {work}/nginx-fastcgi;
  uwsgi_temp_path {work}/nginx-uwsgi;
  scgi_temp_path {work}/nginx-scgi;
  upstream thumbor {{
    least_conn;
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://thumbor;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffer_size 64k;
      proxy_buffers 8 64k;
      proxy_max_temp_file_size 0;
    }}
  }}
}}
"""


def start_thumbor(photos: Path, work: Path, stack: ExitStack) -> Target:
    """thumbor 7 (PIL engine, file loader, no storages, signed URLs): one single-process
    instance per core behind nginx (least connections), as thumbor's docs deploy it. Without
    nginx, `thumbor --processes N` on one socket: there the process that wakes first accepts
    every pending connection, so wrk's few long-lived ones often all land on one core."""
    conf = work / "thumbor.conf"
    conf.write_text(THUMBOR_CONF.format(photos=str(photos), key=THUMBOR_KEY, quality=QUALITY))
    bin_ = THUMBOR_VENV / "bin"
    versions = _run(
        [
            bin_ / "python",
            "-c",
            "import thumbor, PIL.features as f; "
            "print(f'thumbor {thumbor.__version__}, Pillow {f.version(\"pil\")}, '"
            "f'libjpeg-turbo {f.version(\"libjpeg_turbo\")}')",
        ]
    ).strip()
    cores = os.cpu_count() or 1
    nginx, nginx_missing = shutil.which("nginx"), None
    if nginx is None:
        nginx_missing = install_deb("nginx", "nginx")
        nginx = shutil.which("nginx")
    pids: list[int] = []
    ports = [free_port() for _ in range(cores if nginx else 1)]
    for n, port in enumerate(ports):
        log = work / f"thumbor-{n}.log"
        command: list[str | Path] = [bin_ / "thumbor", "--ip", "127.0.0.1", "--port", str(port)]
        command += ["--conf", conf, "--log-level", "warning"]
        command += ["--processes", "1" if nginx else str(cores)]
        pids.append(stack.enter_context(_process(command, log, cwd=work)))
        _wait_http(f"http://127.0.0.1:{port}/healthcheck", pids[-1], log)
    if nginx:
        port = free_port()
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in ports)
        (work / "nginx.conf").write_text(NGINX_CONF.format(work=work, servers=servers, port=port))
        log = work / "nginx.log"
        command = [nginx, "-p", work, "-c", work / "nginx.conf", "-e", work / "nginx-error.log"]
        pids.append(stack.enter_context(_process(command, log, cwd=work)))
        _wait_http(f"http://127.0.0.1:{port}/healthcheck", pids[-1], log)
        nginx_version = _last_line(_run_stderr([nginx, "-v"])).split("/")[-1]
        how = f"{cores} single-process instances behind nginx {nginx_version} (least_conn)"
    else:
        port = ports[0]
        how = f"`--processes {cores}` on one socket (no nginx: {nginx_missing}; unbalanced)"
    crypto = CryptoURL(key=THUMBOR_KEY)
    filters = [f"quality({QUALITY})", "format(jpeg)"]

    def paths(pairs: Sequence[Pair]) -> list[str]:
        return [
            str(crypto.generate(width=s, height=s, fit_in=True, image_url=name, filters=filters))
            for name, s in pairs
        ]

    notes = [
        f"{how}, renders on the IOLoop (no thread pool); signed URLs (HMAC-SHA1); "
        "Huffman-optimised JPEG (thumbor always asks Pillow for it)",
    ]
    return Target("thumbor", versions, f"http://127.0.0.1:{port}", pids, paths, notes)


def start_ipx(photos: Path, work: Path, stack: ExitStack) -> Target:
    """ipx 3 on node's http server, one process (sharp spreads renders over both cores)."""
    port = free_port()
    log = work / "ipx.log"
    pid = stack.enter_context(_process(["node", IPX / "server.mjs", photos, str(port)], log))
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/", pid, log)
    version = _last_line(log.read_text()).split(": ", 1)[-1]

    def paths(pairs: Sequence[Pair]) -> list[str]:
        return [f"/s_{s}x{s},fit_inside,f_jpeg,q_{QUALITY}/{name}" for name, s in pairs]

    notes = [
        "1 node process: sharp renders on libuv's 4-thread pool, libvips threads inside; "
        "sharp.cache(false); baseline JPEG (ipx's default is progressive); no URL signatures "
        "(ipx has none); Huffman-optimised JPEG (sharp's default)",
    ]
    return Target("ipx", version, base, [pid], paths, notes)


@dataclass
class Imagelake:
    target: Target
    service: Service
    image_ids: dict[str, str]  # photo file name -> image_id


def start_imagelake(photos: Sequence[Path], work: Path, stack: ExitStack) -> Imagelake:
    """`imagelake serve` (2 workers, embedded) with the photos uploaded. A pair's path is the
    signed delivery URL that `GET /images/{id}/download?w=&h=&fit=inside&format=jpeg&quality=`
    redirects to (302, `Location` absolute or relative), fetched without the key."""
    unlimited = {"IMAGELAKE_RATE_LIMIT": ""}  # one bench key sends everything
    service = Service(work / "imagelake", extra_env=unlimited, workers=2)
    service.data_dir.mkdir(parents=True)
    stack.callback(service.stop)  # also when start() gives up on a process still running
    service.start()
    assert service.proc is not None
    image_ids: dict[str, str] = {}
    for path in photos:
        image_ids[path.name] = upload(service, path.read_bytes())

    def mint(client: httpx.Client, pair: Pair) -> str:
        name, box = pair
        params: dict[str, str | int] = {"w": box, "h": box, "fit": "inside"}
        params |= {"format": "jpeg", "quality": QUALITY}
        reply = client.get(f"/images/{image_ids[name]}/download", params=params)
        location = reply.headers.get("location")
        if reply.status_code != 302 or not location:
            raise RuntimeError(f"download {name} {box}: {reply.status_code} {reply.text[:200]}")
        url = urlsplit(location)  # absolute or relative: wrk asks this server for the path
        return str(url.path) + (f"?{url.query}" if url.query else "")

    def mint_all(pairs: Sequence[Pair]) -> list[str]:
        with service.client() as client:
            return [mint(client, pair) for pair in pairs]

    def paths(pairs: Sequence[Pair]) -> list[str]:
        """Two clients at a time: a list of 2,000 URLs is minted in a few seconds."""
        with ThreadPoolExecutor(2) as pool:
            even, odd = pool.map(mint_all, (pairs[0::2], pairs[1::2]))
        minted = [""] * len(pairs)
        minted[0::2], minted[1::2] = even, odd
        return minted

    libvips = ".".join(str(pyvips.version(i)) for i in range(3))
    version = f"imagelake {importlib.metadata.version('imagelake')}, libvips {libvips}"
    notes = ["2 worker processes (embedded: SQLite queue and catalog, local files)"]
    target = Target("imagelake", version, service.base_url, [service.proc.pid], paths, notes)
    return Imagelake(target, service, image_ids)


def upload(service: Service, data: bytes) -> str:
    """POST /images (raw body) and wait until it is ready (the workers idle again): its id."""
    with service.client() as client:
        reply = client.post("/images", content=data)
    if reply.status_code not in (200, 201):
        raise RuntimeError(f"POST /images: {reply.status_code} {reply.text[:200]}")
    image_id = str(reply.json()["image_id"])
    service.wait_for(image_id)
    return image_id


def request_counts(lake: Imagelake, names: Sequence[str]) -> int:
    """The request counts of these photos' images, summed (GET /images/{id}/stats)."""
    total = 0
    with lake.service.client() as client:
        for image_id in (lake.image_ids[name] for name in names):
            reply = client.get(f"/images/{image_id}/stats")
            reply.raise_for_status()
            total += int(reply.json()["request_count"])
    return total


def settle(lake: Imagelake, names: Sequence[str], at_least: int = 0, timeout: float = 120) -> int:
    """The summed counts once they reach `at_least` and then stay still for 3 s (the event
    consumer runs at least once a second), or when `timeout` runs out."""
    deadline = time.monotonic() + timeout
    last, still_since = request_counts(lake, names), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = request_counts(lake, names)
        if now != last:
            last, still_since = now, time.monotonic()
        elif now >= at_least and time.monotonic() - still_since >= 3:
            break
    return last


# --- checks, load and the floor ---------------------------------------------------------------


def check(target: Target, photos: Sequence[str]) -> tuple[list[str], list[str]]:
    """GET every photo in the 512 px box once (a warm-up too): its paths, and what was wrong."""
    paths = target.paths([(name, SIZE) for name in photos])
    problems = []
    with httpx.Client(base_url=target.base_url, timeout=60) as client:
        for name, path in zip(photos, paths, strict=True):
            problem = delivered_problem(client.get(path), SIZE)
            if problem:
                problems.append(f"{name}: {problem}")
    return paths, problems


def delivered_problem(reply: httpx.Response, box: int) -> str | None:
    """Why a reply is not a baseline JPEG fitted inside box x box, touching it; None if it is."""
    if reply.status_code != 200:
        return f"HTTP {reply.status_code}: {reply.text[:160]!r}"
    content_type = reply.headers.get("content-type", "")
    if not content_type.startswith("image/jpeg"):
        return f"Content-Type {content_type!r}"
    try:
        image = pyvips.Image.new_from_buffer(reply.content, "")
    except pyvips.Error as exc:
        return f"undecodable: {str(exc).strip()[:160]}"
    if not str(image.get("vips-loader")).startswith("jpegload"):
        return f"not a JPEG ({image.get('vips-loader')})"
    if max(image.width, image.height) != box:
        return f"{image.width}x{image.height}, not {box} px on the long side"
    if progressive(reply.content):
        return "progressive JPEG (the others are baseline)"
    return None


def progressive(jpeg: bytes) -> bool:
    """Whether the JPEG's frame header (SOFn) is a progressive one."""
    i = 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker in (0xC2, 0xC6, 0xCA, 0xCE)
        i += 2 + int.from_bytes(jpeg[i + 2 : i + 4], "big")
    return False


LUA = """\
-- bench/delivery.py: thread i of n asks for paths i, i + n, i + 2n, ... of the file, in order,
-- starting over at the end; done() prints one JSON line.
local threads, created = {}, 0

function setup(thread)
  created = created + 1
  thread:set("id", created)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  step = tonumber(args[2])
  index = id
  sent, wrapped = 0, 0
end

function request()
  local path = paths[index]
  index = index + step
  if index > #paths then index, wrapped = (index - 1) % #paths + 1, 1 end
  sent = sent + 1
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local sent, wrapped = 0, 0
  for _, thread in ipairs(threads) do
    sent, wrapped = sent + thread:get("sent"), wrapped + thread:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "sent": %d, "wrapped": %d, "duration_us": %d, "bytes": %d, ' ..
    '"status": %d, "socket": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, sent, wrapped, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Load:
    """One wrk run against one server."""

    requests: int  # responses read
    sent: int  # requests written: the last few may be unanswered when wrk stops
    seconds: float
    bytes: int
    errors: int  # non-2xx/3xx, socket errors and timeouts
    p50_ms: float
    p99_ms: float
    cpu_seconds: float  # the server's processes, during the run
    wrapped: bool  # a wrk thread came to the end of its share and started over: repeats

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_seconds / max(self.requests, 1)


def wrk(
    target: Target, paths: Sequence[str], connections: int, threads: int, seconds: int, work: Path
) -> Load:
    """`wrk -tT -cC -dS` on the paths, in order; with the server's CPU over the run."""
    script, listing = work / "walk.lua", work / f"paths-{target.name}.txt"
    script.write_text(LUA)
    listing.write_text("".join(f"{path}\n" for path in paths))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
    command += ["-s", str(script), target.base_url, "--", str(listing), str(threads)]
    before = _cpu(target.pids)
    out = _run(command, timeout=seconds + 120)
    cpu = _cpu(target.pids) - before
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"no summary from wrk: {_last_line(out)}")
    s = json.loads(line.removeprefix("WRK_JSON "))
    errors = int(s["status"]) + int(s["socket"]) + int(s["timeout"])
    return Load(
        requests=int(s["requests"]),
        sent=int(s["sent"]),
        seconds=int(s["duration_us"]) / 1e6,
        bytes=int(s["bytes"]),
        errors=errors,
        p50_ms=int(s["p50_us"]) / 1000,
        p99_ms=int(s["p99_us"]) / 1000,
        cpu_seconds=cpu,
        wrapped=bool(int(s["wrapped"])),
    )


def _cpu(pids: Sequence[int]) -> float:
    return sum(sum(cpu_seconds(pid)) for pid in pids)


def engine_floor(photos: Sequence[Path], rounds: int = 2) -> float:
    """CPU seconds per render, libvips' own thumbnail to the 512 box + JPEG q80 in this process
    (best of `rounds` per photo, averaged over the photos)."""
    pyvips.cache_set_max(0)
    best: dict[str, float] = {}
    data = {path.name: path.read_bytes() for path in photos}
    for _ in range(rounds):
        for name, body in data.items():
            start = time.process_time()
            image = pyvips.Image.thumbnail_buffer(body, SIZE, height=SIZE, size="down")
            image.jpegsave_buffer(Q=QUALITY)
            best[name] = min(best.get(name, float("inf")), time.process_time() - start)
    return sum(best.values()) / len(best)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Report:
    failed: list[str] = field(default_factory=list)  # targets missed, servers not measured

    def say(self, line: str = "") -> None:
        print(line, flush=True)

    def verdict(self, label: str, value: float, target: float, unit: str) -> None:
        ok = value >= target
        self.say(f"{label}: {value:,.2f}{unit} (>= {target:,g}{unit}) {'PASS' if ok else 'FAIL'}")
        if not ok:
            self.failed.append(label)


def table(report: Report, rows: list[tuple[str, Load]], floor: float | None) -> None:
    head = "| server | req/s | p50 ms | p99 ms | CPU ms/req | KB/resp | requests | errors |"
    report.say(head + (" CPU vs floor |" if floor else ""))
    report.say("|---" * (head.count("|") - 1 + (1 if floor else 0)) + "|")
    for name, load in rows:
        cells = [
            name,
            f"{load.rate:,.1f}",
            f"{load.p50_ms:,.1f}",
            f"{load.p99_ms:,.1f}",
            f"{load.cpu_ms:.1f}",
            f"{load.bytes / max(load.requests, 1) / 1024:.1f}",
            f"{load.requests:,}",
            f"{load.errors}" + (" (list wrapped)" if load.wrapped and floor else ""),
        ]
        if floor:
            cells.append(f"{load.cpu_ms / (1000 * floor):.2f}x")
        report.say("| " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    """Run with the defaults (as `python -m bench.run` does); 0 when every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=SECONDS, help="length of each wrk run")
    parser.add_argument("--servers", default=",".join(SERVERS), help="which of " + str(SERVERS))
    parser.add_argument("--check", action="store_true", help="start and check them, no load")
    args = parser.parse_args([] if argv is None else argv)
    wanted = [name.strip() for name in args.servers.split(",") if name.strip()]
    if unknown := set(wanted) - set(SERVERS):
        parser.error(f"unknown servers {sorted(unknown)}")
    report = Report()
    cores = os.cpu_count() or 1
    report.say(
        f"delivery: {len(JPEGS)} camera JPEGs (6-12 MP) + {len(MIXED)} PNG/WebP (4-6 MP), "
        f"fit inside {SIZE - 1} px and down, JPEG q{QUALITY}; {cores} cores, load {_load()}"
    )
    skipped: dict[str, str] = {}
    installers = {"thumbor": install_thumbor, "ipx": install_ipx}
    for name in wanted:
        if name in installers and (why := installers[name]()) is not None:
            skipped[name] = why
    if not args.check and (why := install_deb("wrk", "wrk")) is not None:
        report.say(f"no load runs: {why}")
        return 1
    photos = build_photos()
    names = [path.name for path in photos]
    floor = None if args.check else engine_floor(photos)
    if floor is not None:
        report.say(
            f"floor: libvips thumbnail + JPEG save in process, {1000 * floor:.1f} ms CPU per "
            f"render on average: at most {cores / floor:,.0f} renders/s on {cores} cores"
        )
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        targets: dict[str, Target] = {}
        lake: Imagelake | None = None
        for name in wanted:
            if name in skipped:
                continue
            try:
                if name == "imagelake":
                    started = start_imagelake(photos, work, stack)
                    target = started.target
                elif name == "thumbor":
                    target = start_thumbor(DATA, work, stack)
                else:
                    target = start_ipx(DATA, work, stack)
                _, problems = check(target, names)
            except (OSError, RuntimeError, httpx.HTTPError, AssertionError) as exc:
                skipped[name] = f"did not start or answer: {exc}"
                continue
            if problems:
                skipped[name] = f"{len(problems)} of {len(names)} checks failed, e.g. {problems[0]}"
                continue
            targets[name] = target
            lake = started if name == "imagelake" else lake
            report.say(f"{name}: {target.version}; {'; '.join(target.notes)}")
            report.say(
                f"  {len(names)} photos at {SIZE} px checked: baseline JPEG, long side {SIZE}"
            )
        for name, why in skipped.items():
            report.say(f"{name}: skipped: {why}")
        if args.check:
            return 1 if skipped else 0
        cold(report, targets, lake, names, args.seconds, work, floor)
        if lake is not None:
            hits(report, lake, [p for p in photos if p.suffix == ".jpg"], args.seconds, work)
    if skipped:
        report.failed += list(skipped)
    report.say(f"load {_load()} at the end")
    return 1 if report.failed else 0


def cold(
    report: Report,
    targets: dict[str, Target],
    lake: Imagelake | None,
    names: list[str],
    seconds: int,
    work: Path,
    floor: float | None,
) -> None:
    """Every request a render: per concurrency, the same list of new pairs for every server."""
    count = max(CEILING * seconds, 2 * len(names))
    for phase, (connections, threads) in enumerate(COLD):
        pairs = plan(names, phase, len(COLD), count)
        boxes = f"{pairs[0][1]}-{pairs[-1][1]} px"
        report.say(
            f"\ncold renders, {connections} connections (wrk -t{threads} -c{connections} "
            f"-d{seconds}s), {len(pairs):,} distinct (photo, box) pairs, boxes {boxes}:\n"
        )
        rows: list[tuple[str, Load]] = []
        for name, target in targets.items():
            paths = target.paths(pairs)
            if lake is not None and "imagelake" in (name, *(row[0] for row in rows[-1:])):
                settle(lake, names)  # imagelake's events of its last run counted first
            rows.append((name, wrk(target, paths, connections, threads, seconds, work)))
        table(report, rows, floor)
        loads = dict(rows)
        report.say()
        report.failed += [f"{name} errors c={connections}" for name, ld in rows if ld.errors]
        if any(load.wrapped for load in loads.values()):
            report.say(f"(a list ran out: raise CEILING above {CEILING}/s; repeats in that run)")
        if "imagelake" not in loads:
            continue
        mine = loads["imagelake"]
        for peer, target_ratio in (("thumbor", TARGET_VS_THUMBOR), ("ipx", TARGET_VS_IPX)):
            if peer in loads:
                theirs = loads[peer]
                label = f"cold c={connections}: imagelake/{peer} req/s"
                report.say(
                    f"  CPU per request: {peer} {theirs.cpu_ms:.1f} ms, imagelake "
                    f"{mine.cpu_ms:.1f} ms ({theirs.cpu_ms / max(mine.cpu_ms, 1e-9):.2f}x less)"
                )
                report.verdict(label, mine.rate / max(theirs.rate, 1e-9), target_ratio, "x")


def hits(report: Report, lake: Imagelake, photos: Sequence[Path], seconds: int, work: Path) -> None:
    """One signed URL per JPEG, asked again and again; then every hit must be counted. The
    photos are new copies (a JPEG comment added), so no other run's events are in their
    counts: before the load each holds exactly the one GET that rendered it."""
    names = []
    for path in photos:
        name = f"hit-{path.name}"
        lake.image_ids[name] = upload(lake.service, tagged(path.read_bytes(), "cache hits"))
        names.append(name)
    paths, problems = check(lake.target, names)
    if problems:
        report.say(f"\ncache hits: not measured: {problems[0]}")
        report.failed.append("cache hits")
        return
    rates: list[float] = []
    expected = len(names)
    for connections, threads in HITS:
        before = settle(lake, names, at_least=expected)
        if before != expected:
            report.say(f"\ncache hits: {before} requests counted before the run, not {expected}")
        load = wrk(lake.target, paths, connections, threads, seconds, work)
        counted = settle(lake, names, at_least=before + load.requests) - before
        report.say(
            f"\ncache hits, imagelake, {connections} connections (wrk -t{threads} "
            f"-c{connections} -d{seconds}s), the {len(paths)} signed URLs of the {SIZE} px box:\n"
        )
        table(report, [("imagelake", load)], None)
        ok = before == expected and load.requests <= counted <= load.sent
        how = "equal" if counted == load.requests else "more, but no more than wrk sent"
        report.say(
            f"\n  every hit counted: {counted:,} in the stats; wrk read {load.requests:,} "
            f"responses of {load.sent:,} requests sent: {how if ok else 'no'} "
            f"{'PASS' if ok else 'FAIL'}"
        )
        if not ok:
            report.failed.append(f"hits counted c={connections}")
        if load.errors:
            report.failed.append(f"hit errors c={connections}")
        rates.append(load.rate)
        expected = before + counted
    report.say()
    report.verdict("cache hits, best of c=8/c=32", max(rates), TARGET_HITS, " req/s")


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
