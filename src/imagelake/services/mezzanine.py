"""Mezzanines: an intermediate rendition of a JPEG original, kept beside its variants, that
smaller variants are rendered from instead of the original.

Decoding a camera JPEG is most of a render's cost (tens of ms for 12 MP, even at 1/8 scale),
and it is the same work for every variant of the image. On an image's first render that
qualifies, its original is decoded once into a `IMAGELAKE_MEZZANINE_SIZE` (1024 px) JPEG at
q95 (`thumbnails/ID/v/1024x1024-inside-q95.jpg`, the very variant that box would be); any
later variant needing at most half that resolution (a box of 512 px or less for a landscape
photo) is rendered from it, at about a tenth of the decode. Half, so the mezzanine always
has twice the pixels the output needs: the extra resample and the q95 generation are not
visible. Only JPEG originals (no alpha, no animation) larger than the mezzanine take this
path; everything else, and every output that needs more, is rendered from the original. An
evicted or deleted mezzanine is made again when next needed.
"""

from __future__ import annotations

from imagelake.domain.errors import NotFound
from imagelake.domain.images import Image, variant_key
from imagelake.domain.variants import Format, Render, Variant, scale_needed
from imagelake.ports import BlobStore, ImageEngine

QUALITY = 95


class Mezzanines:
    def __init__(
        self, *, blobs: BlobStore, thumbnails: BlobStore, engine: ImageEngine, size: int
    ) -> None:
        self._blobs = blobs
        self._thumbnails = thumbnails
        self._engine = engine
        self._size = size

    def source(self, image: Image, variant: Variant) -> bytes:
        """The bytes to render the variant from: the mezzanine where it has the resolution
        the variant needs (made now if it is missing), else the original."""
        long_side = max(image.width, image.height)
        if not self._size or image.content_type != "image/jpeg" or long_side <= self._size:
            return self._original(image)
        if scale_needed(variant, image.width, image.height) > self._size / long_side / 2:
            return self._original(image)
        key = variant_key(image.image_id, self.render)
        try:
            return self._thumbnails.get(key)
        except NotFound:
            pass
        made = self._engine.render(self._original(image), self.render).data
        self._thumbnails.put(key, made, "image/jpeg")
        return made

    @property
    def render(self) -> Render:
        box = Variant(w=self._size, h=self._size, format=Format.JPEG, quality=QUALITY)
        return Render(box)

    def _original(self, image: Image) -> bytes:
        return self._blobs.get(image.original_key)
