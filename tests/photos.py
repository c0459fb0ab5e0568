"""Real photographs for tests and benchmarks, built from the files scikit-image ships.

Nothing is downloaded: the sources are the PNG/JPEG files inside the installed
`skimage/data` package directory, re-encoded at run time with pyvips (HEIC with pillow-heif).
"""

from __future__ import annotations

import io
import math
import random
import struct
import zlib
from importlib.resources import files
from pathlib import Path

import PIL.Image
import pillow_heif
import pyvips

# Photographs (and one graphic) bundled with scikit-image: name -> file.
PHOTOS = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
    "retina": "retina.jpg",
    "hubble": "hubble_deep_field.jpg",
    "ihc": "ihc.png",
    "camera": "camera.png",  # greyscale
    "horse": "horse.png",  # RGBA
    "logo": "logo.png",  # RGBA graphic
}
FORMATS = ("jpeg", "png", "webp", "gif", "tiff", "avif", "heic")  # what `encode` writes
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def photo_path(name: str) -> Path:
    """The bundled file behind a photo name."""
    return Path(str(files("skimage") / "data" / PHOTOS[name]))


def load_photo(name: str = "astronaut", scale: float = 1.0) -> pyvips.Image:
    image = pyvips.Image.new_from_file(str(photo_path(name)))
    if scale != 1.0:
        image = image.resize(scale, kernel="lanczos3")
    return image


def encode(image: pyvips.Image, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """Encode with every metadata item kept (EXIF, ICC) unless the format has none."""
    if fmt == "jpeg":
        return bytes(image.jpegsave_buffer(Q=quality))
    if fmt == "png":
        return bytes(image.pngsave_buffer(compression=6))
    if fmt == "webp":
        return bytes(image.webpsave_buffer(Q=quality))
    if fmt == "gif":
        return bytes(image.gifsave_buffer())
    if fmt == "tiff":
        return bytes(image.tiffsave_buffer(compression="deflate"))
    if fmt == "avif":
        return bytes(image.heifsave_buffer(Q=quality, compression="av1", effort=0))
    if fmt == "heic":
        return hevc_heic(image, quality)
    raise ValueError(f"unknown format {fmt!r}")


def can_encode(fmt: str) -> bool:
    """Whether `fmt` can be written here."""
    try:
        encode(pyvips.Image.black(8, 8, bands=3), fmt)
    except pyvips.Error:
        return False
    return True


def photo_bytes(
    name: str = "astronaut", fmt: str = "jpeg", scale: float = 1.0, quality: int = 90
) -> bytes:
    """A real photo, optionally rescaled, encoded as `fmt`."""
    return encode(load_photo(name, scale), fmt, quality)


def oriented(image: pyvips.Image, orientation: int) -> pyvips.Image:
    """A copy tagged with an EXIF orientation (1-8); the pixels are not moved."""
    tagged = image.copy()
    tagged.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return tagged


def large_photo_image(megapixels: float, name: str = "coffee", seed: int = 0) -> pyvips.Image:
    """A camera-sized photo: a real photo upscaled to `megapixels`, with sensor-like noise.

    The noise gives the file the entropy of a real camera JPEG, so decode costs are realistic.
    """
    image = load_photo(name)
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands == 1:
        image = image.colourspace("srgb")
    scale = math.sqrt(megapixels * 1e6 / (image.width * image.height))
    image = image.resize(scale, kernel="lanczos3")
    noise = pyvips.Image.gaussnoise(image.width, image.height, sigma=3.0, mean=0.0, seed=seed)
    return (image + noise).cast("uchar")


def large_photo(
    megapixels: float,
    name: str = "coffee",
    fmt: str = "jpeg",
    seed: int = 0,
    orientation: int | None = None,
) -> bytes:
    """`large_photo_image` encoded as `fmt` (JPEG at camera quality 90 by default)."""
    image = large_photo_image(megapixels, name, seed)
    if orientation is not None:
        image = oriented(image, orientation)
    return encode(image, fmt, quality=90)


def decompression_bomb(fmt: str = "png", width: int = 30_000, height: int = 30_000) -> bytes:
    """A few bytes whose header claims width x height pixels; the pixel data is missing.

    Decoding the PNG or GIF fails, so refusing them for their size proves that only the
    header was read. (A JPEG decoder pads the missing rows with grey instead of failing.)
    """
    if fmt == "png":
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        rows = _png_chunk(b"IDAT", zlib.compress(bytes(1024)))  # a sliver of the first row
        return PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + rows + _png_chunk(b"IEND", b"")
    if fmt == "gif":
        screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
        frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
        return b"GIF89a" + screen + frame + b"\x02\x02\x44\x01\x00;"
    if fmt == "jpeg":
        small = bytes(pyvips.Image.black(16, 16, bands=3).jpegsave_buffer())
        sof = small.index(b"\xff\xc0") + 5  # marker, length, precision, then height, width
        return small[:sof] + struct.pack(">HH", height, width) + small[sof + 4 :]
    raise ValueError(f"no decompression bomb for {fmt!r}")


def hevc_heic(image: pyvips.Image | None = None, quality: int = 90) -> bytes:
    """A HEIC as phones write it: HEVC-coded (x265, in pillow-heif; the libvips wheel has no
    HEVC encoder). An EXIF orientation becomes the file's irot/imir and stays in its EXIF."""
    if image is None:
        image = load_photo("chelsea")
    if image.format != "uchar":
        image = image.cast("uchar")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[int(image.bands)]
    heif = pillow_heif.from_bytes(mode, (image.width, image.height), image.write_to_memory())
    metadata: dict[str, bytes] = {}
    if image.get_typeof("orientation"):
        exif = PIL.Image.Exif()
        exif[0x0112] = int(image.get("orientation"))
        metadata["exif"] = exif.tobytes()
    if image.get_typeof("icc-profile-data"):
        metadata["icc_profile"] = bytes(image.get("icc-profile-data"))
    out = io.BytesIO()
    heif.save(out, quality=quality, **metadata)
    return out.getvalue()


def heic_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A small HEIC whose header (ispe) claims width x height: decoding it fails."""
    data = hevc_heic(pyvips.Image.black(64, 64, bands=3))  # coded as is: no clap box
    ispe = data.index(b"ispe") + 8  # box type, version and flags, then width and height
    return data[:ispe] + struct.pack(">II", width, height) + data[ispe + 8 :]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def damaged_in_the_middle(data: bytes, length: int = 300, zeros: bool = False) -> bytes:
    """`data` with `length` random (or zero) bytes written over its middle, its end intact.

    For a JPEG the middle is entropy-coded data: the file still ends in its EOI marker.
    Zeros are a disk or a transfer that lost a block.
    """
    noise = bytes(length) if zeros else random.Random(length).randbytes(length)
    middle = len(data) // 2
    return data[:middle] + noise + data[middle + length :]


def with_video_appended(data: bytes) -> bytes:
    """An image with an MP4 after its end marker, as Android Motion Photos store a JPEG."""
    ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"mp42", 0) + b"isommp42"
    return data + ftyp + struct.pack(">I4s", 4104, b"mdat") + bytes(range(256)) * 16
