"""/thumbor/...: a site on thumbor switches by changing the host; libthumbor signs the URLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvips
from libthumbor import CryptoURL

from tests.unit.api_harness import Api, open_api
from tests.unit.fakes import png

KEY = "thumbor-security-key"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, thumbor_security_key=KEY, thumbor_user="site") as api:
        yield api


def thumbor(api: Api, key: str = KEY, **options: Any) -> Any:
    path = CryptoURL(key=key).generate(**options)  # `unsafe/...` comes without its slash
    return api.client.get(f"/thumbor/{path.lstrip('/')}", headers={"Authorization": ""})


def size_of(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return int(image.width), int(image.height)


def test_libthumbor_urls_render_as_thumbor_would_and_are_counted(api: Api) -> None:
    image_id = api.upload(png(600, 400), "image/png").json()["image_id"]

    crop = thumbor(api, width=300, height=300, image_url=image_id)
    fit = thumbor(api, width=300, height=300, fit_in=True, image_url=image_id)
    webp = thumbor(api, width=120, height=0, filters=["format(webp)", "quality(50)"],
                   image_url=image_id)  # fmt: skip
    smart = thumbor(api, width=100, height=200, smart=True, image_url=image_id)

    assert crop.status_code == 200, crop.text
    assert (crop.headers["content-type"], size_of(crop.content)) == ("image/png", (300, 300))
    assert size_of(fit.content) == (300, 200)
    assert (webp.headers["content-type"], size_of(webp.content)) == ("image/webp", (120, 80))
    assert size_of(smart.content) == (100, 200)
    while api.wired.monitor.run_once(wait=0):
        pass
    stats = api.client.get(f"/images/{image_id}/stats").json()
    assert (stats["request_count"], stats["last_user_id"]) == (4, "site")


def test_a_jpeg_stays_jpeg_and_a_crop_may_enlarge_as_thumbors_does(api: Api) -> None:
    jpeg = bytes(pyvips.Image.xyz(200, 100)[0].cast("uchar").jpegsave_buffer())
    image_id = api.upload(jpeg, "image/jpeg").json()["image_id"]

    crop = thumbor(api, width=400, height=400, image_url=image_id)
    fit = thumbor(api, width=400, height=400, fit_in=True, image_url=image_id)

    assert crop.headers["content-type"] == "image/jpeg"
    assert size_of(crop.content) == (400, 400)
    assert size_of(fit.content) == (200, 100)  # fit-in never enlarges


def test_a_wrong_key_unsafe_or_unknown_image_is_refused(api: Api) -> None:
    image_id = api.upload(png(60, 40), "image/png").json()["image_id"]

    wrong = thumbor(api, key="not-the-key", width=10, height=10, image_url=image_id)
    unsafe = thumbor(api, unsafe=True, width=10, height=10, image_url=image_id)
    missing = thumbor(api, width=10, height=10, image_url="b9f08c7f-089e-4cbf-ba78-a89a6e586e86")
    filters = thumbor(api, width=10, height=10, filters=["blur(7)"], image_url=image_id)

    assert wrong.status_code == 403 and "invalid thumbor signature" in wrong.text
    assert unsafe.status_code == 403
    assert missing.status_code == 404
    assert filters.status_code == 400 and "blur" in filters.text


def test_without_a_security_key_thumbor_urls_are_off(tmp_path: Path) -> None:
    with open_api(tmp_path) as api:
        image_id = api.upload(png(60, 40), "image/png").json()["image_id"]

        reply = thumbor(api, key="anything", width=10, height=10, image_url=image_id)

    assert reply.status_code == 403
    assert "not enabled" in reply.text
