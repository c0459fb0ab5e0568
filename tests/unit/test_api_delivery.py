"""Delivery links: signed, transformable, rendered once, and counted on every GET."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import pyvips

from imagelake.domain.errors import BackendError
from imagelake.domain.signing import Signer
from tests.unit.api_harness import PUBLIC_URL, Api, open_api
from tests.unit.fakes import png

PHOTO = png(600, 400)


@pytest.fixture(params=["memory", "files"])
def api(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Api]:
    """Over the in-memory store, and over local files, where hits take the fast path."""
    store: dict[str, Any] = (
        {"blobs": f"file://{tmp_path}/blobs"} if request.param == "files" else {}
    )
    with open_api(
        tmp_path,
        max_url_ttl=86_400,
        presets="card=w:300,h:200,fit:cover",
        signing_keys_previous="retired-key",
        **store,
    ) as api:
        yield api


def link(api: Api, image_id: str, **params: Any) -> str:
    reply = api.client.get(f"/images/{image_id}/download", params=params, follow_redirects=False)
    assert reply.status_code == 302, reply.text
    location: str = reply.headers["location"]
    assert location.startswith(f"{PUBLIC_URL}/d/{image_id}?")
    return location


def anonymous(api: Api, url: str, method: str = "GET", **headers: str) -> Any:
    parts = urlsplit(url)
    return api.client.request(
        method, f"{parts.path}?{parts.query}", headers={"Authorization": "", **headers}
    )


def requests_of(api: Api, image_id: str) -> dict[str, Any]:
    while api.wired.monitor.run_once(wait=0):
        pass
    reply = api.client.get(f"/images/{image_id}/stats")
    assert reply.status_code == 200, reply.text
    stats: dict[str, Any] = reply.json()
    return stats


def archived(api: Api) -> list[dict[str, Any]]:
    store = api.wired.container.archive
    lines: list[dict[str, Any]] = []
    for key in store.list("events/"):
        if key.endswith(".jsonl"):
            lines += [json.loads(line) for line in store.get(key).splitlines() if line]
    return [e for e in lines if e["event_name"] == "IMAGE_REQUESTED"]


def size_of(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return int(image.width), int(image.height)


def test_every_get_counts_for_the_links_user_with_the_variant_and_head_or_range_do_not(
    api: Api,
) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]
    url = link(api, image_id, w=100, format="webp")

    first = anonymous(api, url)
    second = anonymous(api, url)
    head = anonymous(api, url, "HEAD")
    ranged = anonymous(api, url, Range="bytes=0-9")

    assert first.status_code == second.status_code == head.status_code == 200
    assert first.headers["content-type"] == "image/webp"
    assert size_of(first.content) == (100, 67)
    if api.wired.container.thumbnails.local_path("thumbnails/x") is not None:  # files
        assert ranged.status_code == 206 and ranged.content == first.content[:10]
    else:  # the in-memory store (tests only) sends the whole body; S3 redirects instead
        assert ranged.status_code == 200
    assert head.content == b""
    stats = requests_of(api, image_id)
    assert stats["request_count"] == 2
    assert stats["last_user_id"] == "tester"
    assert [e["variant"] for e in archived(api)] == ["100x0-q82.webp"] * 2


def test_the_owner_mints_links_that_count_for_its_own_end_users(api: Api) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]

    for user in ("42", "43", "42"):
        assert anonymous(api, link(api, image_id, size="128", user_id=user)).status_code == 200

    stats = requests_of(api, image_id)
    assert (stats["request_count"], stats["unique_users"]) == (3, 2)
    assert stats["last_user_id"] == "42"
    assert {e["user_id"] for e in archived(api)} == {"42", "43"}


def test_links_are_stable_within_a_window_and_differ_per_user_and_variant(api: Api) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]

    a, b = link(api, image_id, w=64), link(api, image_id, w=64, dpr=1, fit="inside")
    other_user = link(api, image_id, w=64, user_id="someone")
    other_variant = link(api, image_id, w=65)
    listed = api.client.get("/images").json()["images"][0]["original_url"]

    assert a == b
    assert len({a, other_user, other_variant}) == 3
    assert listed == api.get_image(image_id)["original_url"] == link(api, image_id)
    expires = int(parse_qs(urlsplit(a).query)["e"][0])
    assert expires % 3600 == 0 and time.time() + 3600 <= expires <= time.time() + 7200


def test_a_tampered_expired_or_unsigned_link_is_403(api: Api) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]
    other_id = api.upload(png(600, 400, seed=1), "image/png").json()["image_id"]
    url = link(api, image_id, w=100)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert anonymous(api, url).status_code == 200  # rendered and cached: hits are fast now

    def variant(**changes: str) -> str:
        return f"/d/{image_id}?{urlencode({**query, **changes})}"

    flipped = query["s"][:-1] + ("0" if query["s"][-1] != "0" else "1")
    for path in (
        variant(s=flipped),
        variant(w="200"),  # a bigger render for free
        variant(u="someone-else"),  # counted for another user
        variant(e=str(int(query["e"]) + 3600)),  # a longer life
        f"/d/{other_id}?{urlencode(query)}",  # another image
        f"/d/{image_id}?w=100&u=tester&e={query['e']}",
        f"/d/{image_id}?w=100",
    ):
        reply = api.client.get(path, headers={"Authorization": ""})
        assert reply.status_code == 403, path
        assert reply.json()["error"]["code"] == "forbidden"
    assert requests_of(api, image_id)["request_count"] == 1  # the valid fetch only


def test_an_expired_link_says_so_and_a_retired_key_still_signs(api: Api) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(link(api, image_id, w=10)).query).items()}
    message = f"delivery\n{image_id}\nw=10\ntester"

    def signed(signer: Signer, expires: int) -> str:
        sig = signer.signature(message, expires)
        return f"/d/{image_id}?{urlencode({**query, 'e': expires, 's': sig})}"

    later = int(time.time()) + 600
    expired = api.client.get(signed(api.wired.container.signer, int(time.time()) - 1))
    retired = api.client.get(signed(Signer(b"retired-key"), later))
    unknown = api.client.get(signed(Signer(b"never-configured"), later))

    assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]
    assert retired.status_code == 200
    assert unknown.status_code == 403


def test_caching_headers_etag_304_and_vary_only_where_the_bytes_depend_on_accept(
    api: Api,
) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]
    auto, fixed = link(api, image_id, w=50), link(api, image_id, w=50, format="jpeg")

    reply = anonymous(api, auto, Accept="image/webp")
    again = anonymous(api, auto, Accept="image/webp", **{"If-None-Match": reply.headers["etag"]})
    plain = anonymous(api, fixed)

    assert reply.headers["cache-control"] == "private, no-cache"
    assert reply.headers["vary"] == "Accept"
    assert "vary" not in plain.headers
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in reply.headers["content-security-policy"]
    assert again.status_code == 304 and again.content == b""
    assert requests_of(api, image_id)["request_count"] == 3  # a revalidation is a view too


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("image/avif,image/webp,*/*", "image/avif"),
        ("image/webp,*/*", "image/webp"),
        ("image/avif;q=0,image/webp", "image/webp"),
        ("*/*", "image/jpeg"),
        ("", "image/jpeg"),
    ],
)
def test_format_auto_follows_accept(api: Api, accept: str, content_type: str) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]

    reply = anonymous(api, link(api, image_id, w=40), Accept=accept)

    assert reply.status_code == 200
    assert reply.headers["content-type"] == content_type


def test_format_auto_keeps_alpha_as_png_where_jpeg_is_the_only_choice(api: Api) -> None:
    rgba = bytes(pyvips.Image.black(64, 64, bands=4).pngsave_buffer())
    image_id = api.upload(rgba, "image/png").json()["image_id"]

    reply = anonymous(api, link(api, image_id, w=32), Accept="*/*")

    assert reply.headers["content-type"] == "image/png"


def test_a_variant_is_rendered_once_then_served_and_rendered_again_if_deleted(
    api: Api,
) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]
    url = link(api, image_id, w=120, format="jpeg")
    rendered = api.metric("imagelake_variants_rendered_total", format="jpeg")
    hits = api.metric("imagelake_variant_cache_hits_total")

    first = anonymous(api, url)
    second = anonymous(api, url)
    store = api.wired.container.thumbnails
    (key,) = [k for k in store.list(f"thumbnails/{image_id}/v/") if "120x0" in k]
    store.delete(key)
    third = anonymous(api, url)

    assert first.content == second.content == third.content
    assert api.metric("imagelake_variants_rendered_total", format="jpeg") == rendered + 2
    assert api.metric("imagelake_variant_cache_hits_total") == hits + 1
    assert api.metric("imagelake_variant_render_seconds_count", format="jpeg") >= 2


def test_concurrent_first_requests_render_once(api: Api) -> None:
    image_id = api.upload(png(2000, 1500), "image/png").json()["image_id"]
    url = link(api, image_id, w=300, format="webp")
    before = api.metric("imagelake_variants_rendered_total", format="webp")
    replies: list[int] = []

    def fetch() -> None:
        replies.append(anonymous(api, url).status_code)

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert replies == [200] * 6
    assert api.metric("imagelake_variants_rendered_total", format="webp") == before + 1
    assert requests_of(api, image_id)["request_count"] == 6


def test_upload_time_thumbnails_are_the_size_variants_made_ahead(api: Api) -> None:
    image = api.upload_ready(PHOTO)
    before = api.metric("imagelake_variants_rendered_total", format="jpeg")

    for url in image["thumbnails"].values():
        assert anonymous(api, url).status_code == 200

    assert api.metric("imagelake_variants_rendered_total", format="jpeg") == before


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"width": "512"}, "unknown parameters: width"),
        ({"w": "5000"}, "w must be a whole number from 0 to 4096"),
        ({"w": "2048", "dpr": "3"}, "6144 px on its long side (with dpr 3)"),
        ({"preset": "hero"}, "no preset 'hero'; known: card"),
        ({"fit": "stretch"}, "fit must be one of"),
        ({"quality": "101"}, "quality must be a whole number from 1 to 100"),
        ({"user_id": ""}, "user_id"),
    ],
)
def test_bad_transforms_are_400_naming_the_problem(
    api: Api, params: dict[str, str], words: str
) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]

    reply = api.client.get(f"/images/{image_id}/download", params=params)

    assert reply.status_code in (400, 422), reply.text
    assert words in reply.text


def test_a_parameter_given_twice_is_400(api: Api) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]

    reply = api.client.get(f"/images/{image_id}/download?w=10&w=20")

    assert reply.status_code == 400
    assert "'w' is given more than once" in reply.json()["error"]["message"]


def test_presets_fits_and_enlarge(api: Api) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]  # 600x400

    def fetched(**params: Any) -> tuple[int, int]:
        return size_of(anonymous(api, link(api, image_id, **params)).content)

    assert fetched(preset="card") == (300, 200)
    assert fetched(w=200, h=200, fit="cover") == (200, 200)
    assert fetched(w=200, h=200, fit="fill") == (200, 200)
    assert fetched(w=200, h=200, fit="contain") == (200, 200)
    assert fetched(w=200, h=200) == (200, 133)
    assert fetched(w=1200) == (600, 400)  # never enlarged unless asked
    assert fetched(w=1200, enlarge=1) == (1200, 800)
    assert fetched(w=100, dpr=2) == (200, 133)


def test_a_deleted_images_links_are_404(api: Api) -> None:
    image = api.upload_ready(PHOTO)
    extra = link(api, image["image_id"], w=77)
    assert anonymous(api, extra).status_code == 200

    api.client.delete(f"/images/{image['image_id']}")

    for url in (image["original_url"], image["thumbnails"]["128"], extra):
        assert anonymous(api, url).status_code == 404


def test_another_users_image_cannot_be_linked(api: Api, tmp_path: Path) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]
    _, token = api.wired.keys.create("mallory")

    reply = api.client.get(
        f"/images/{image_id}/download",
        params={"user_id": "42"},
        headers={"Authorization": f"Bearer {token}"},
        follow_redirects=False,
    )

    assert reply.status_code == 404


def test_a_delivery_that_cannot_be_counted_is_not_sent(api: Api) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]
    url = link(api, image_id, w=30)
    assert anonymous(api, url).status_code == 200  # rendered: the next one is a cache hit
    events = api.wired.container.events

    def broken(bodies: object) -> None:
        raise BackendError("queue database error: disk I/O error")

    original, events.send = events.send, broken  # type: ignore[method-assign]
    try:
        reply = anonymous(api, url)
    finally:
        events.send = original  # type: ignore[method-assign]

    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "backend_error"
    assert reply.headers["content-type"] == "application/json"
    assert requests_of(api, image_id)["request_count"] == 1


def test_a_link_that_expires_after_being_served_from_the_hot_path_is_refused(api: Api) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]
    assert anonymous(api, link(api, image_id, w=20)).status_code == 200  # rendered
    expires = int(time.time()) + 2
    signature = api.wired.container.signer.signature(f"delivery\n{image_id}\nw=20\ntester", expires)
    path = f"/d/{image_id}?w=20&u=tester&e={expires}&s={signature}"

    fresh = [api.client.get(path).status_code for _ in range(2)]  # verified once, remembered
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    stale = api.client.get(path)

    assert fresh == [200, 200]
    assert stale.status_code == 403
    assert "expired" in stale.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/d/..%2F..%2Fetc%2Fpasswd?u=a&e=1&s=x", 404),
        ("/d/not-an-id?u=a&e=1&s=x", 404),
        ("/d/{id}?u=a&e=999999999999999999999&s=x", 403),
        ("/d/{id}?u=a&e=-1&s=x", 403),
        ("/d/{id}?u=a&e=1&s=x&s=y", 400),
        ("/d/{id}?w=%00&u=a&e=1&s=x", 400),
        ("/d/{id}?w=%ff%fe&u=a&e=1&s=x", 400),
        ("/d/{id}?w=99999999&u=a&e=1&s=x", 400),
        ("/d/{id}?u=%00&e=9999999999&s=x", 403),
        ("/d/{id}?" + "x=1&" * 2000 + "u=a&e=1&s=x", 400),
        ("/thumbor/%00/10x10/{id}", 400),
        ("/thumbor/unsafe/99999x1/{id}", 403),
        ("/thumbor/AAAAAAAAAAAAAAAAAAAAAAAAAAA=/99999x1/{id}", 400),
    ],
)
def test_hostile_links_get_a_4xx_with_a_json_error_never_a_500(
    api: Api, path: str, status: int
) -> None:
    image_id = api.upload(PHOTO, "image/png").json()["image_id"]

    reply = api.client.get(path.replace("{id}", image_id), headers={"Authorization": ""})

    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["message"]


def test_an_animated_gif_stays_animated_through_a_link_up_to_the_frame_limit(
    tmp_path: Path,
) -> None:
    from tests.unit.test_vips_render import animation

    with open_api(tmp_path, max_animation_frames=4) as api:
        image_id = api.upload(animation("gif", frames=6), "image/gif").json()["image_id"]

        webp = anonymous(api, link(api, image_id, w=30, format="webp"))
        gif = anonymous(api, link(api, image_id, w=30, format="gif"))
        still = anonymous(api, link(api, image_id, w=30, format="png"))

    for reply, content_type in ((webp, "image/webp"), (gif, "image/gif")):
        assert reply.headers["content-type"] == content_type
        image = pyvips.Image.new_from_buffer(reply.content, "", n=-1)
        assert (image.get("n-pages"), image.get("page-height"), image.width) == (4, 20, 30)
    assert pyvips.Image.new_from_buffer(still.content, "").height == 20  # the first frame
