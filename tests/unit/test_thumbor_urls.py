"""thumbor URLs as libthumbor writes them: parsed, verified, and refused when they are not ours."""

from __future__ import annotations

from typing import Any

import pytest
from libthumbor import CryptoURL

from imagelake.domain.errors import Forbidden, InvalidInput
from imagelake.domain.thumbor import (
    ThumborRequest,
    parse_thumbor_path,
    thumbor_signature,
    verify_thumbor_signature,
)

KEY = b"my-thumbor-security-key"
IMAGE_ID = "b9f08c7f-089e-4cbf-ba78-a89a6e586e86"


def thumbor_url(key: bytes = KEY, **options: Any) -> str:
    options.setdefault("image_url", IMAGE_ID)
    url: str = CryptoURL(key=key).generate(**options)
    return url


def parse_and_verify(path: str, key: bytes = KEY) -> ThumborRequest:
    request = parse_thumbor_path(path)
    assert request.signature is not None
    verify_thumbor_signature(request.signed_part, request.signature, key)
    return request


GENERATED = [
    ({"width": 300, "height": 200}, (300, 200, False, False, None, None)),
    ({"width": 300, "height": 0}, (300, 0, False, False, None, None)),
    ({"width": 0, "height": 512}, (0, 512, False, False, None, None)),
    ({}, (0, 0, False, False, None, None)),
    ({"width": 512, "height": 512, "fit_in": True}, (512, 512, True, False, None, None)),
    ({"width": 300, "height": 200, "smart": True}, (300, 200, False, True, None, None)),
    (
        {
            "width": 512,
            "height": 384,
            "smart": True,
            "fit_in": True,
            "filters": ["format(webp)", "quality(80)"],
        },
        (512, 384, True, True, "webp", 80),
    ),
    ({"width": 64, "height": 64, "filters": ["quality(1)"]}, (64, 64, False, False, None, 1)),
    (
        {"width": 4096, "height": 4096, "filters": ["quality(100)"]},
        (4096, 4096, False, False, None, 100),
    ),
    *(
        (
            {"width": 100, "height": 100, "filters": [f"format({fmt})"]},
            (100, 100, False, False, fmt, None),
        )
        for fmt in ("jpeg", "webp", "png", "gif", "avif")
    ),
]


@pytest.mark.parametrize(("options", "expected"), GENERATED)
def test_every_libthumbor_url_parses_and_verifies(
    options: dict[str, Any], expected: tuple[object, ...]
) -> None:
    path = thumbor_url(**options)
    request = parse_and_verify(path)
    got = (request.w, request.h, request.fit_in, request.smart, request.format, request.quality)
    assert got == expected
    assert request.image_id == IMAGE_ID
    assert not request.unsafe
    assert path == f"/{request.signature}/{request.signed_part}"


def test_signature_is_libthumbors_hmac_sha1_in_urlsafe_base64_with_padding() -> None:
    path = thumbor_url(width=300, height=200, smart=True)
    signature, _, signed_part = path[1:].partition("/")
    assert signed_part == f"300x200/smart/{IMAGE_ID}"
    assert thumbor_signature(signed_part, KEY) == signature
    assert len(signature) == 28 and signature.endswith("=")


def test_path_without_leading_slash_is_the_same_url() -> None:
    path = thumbor_url(width=300, height=200)
    assert parse_and_verify(path[1:]) == parse_and_verify(path)


def test_a_text_key_signs_like_its_bytes() -> None:
    path = CryptoURL(key=KEY.decode()).generate(width=10, height=10, image_url=IMAGE_ID)
    parse_and_verify(path, KEY)


def test_libthumbor_encodes_a_non_ascii_text_key_as_latin1() -> None:
    # thumbor's own server encodes it as UTF-8: the two agree only on ASCII keys
    path = CryptoURL(key="clé").generate(width=10, height=10, image_url=IMAGE_ID)
    parse_and_verify(path, "clé".encode("latin-1"))
    with pytest.raises(Forbidden):
        parse_and_verify(path, "clé".encode())


def tampered(path: str, old: str, new: str) -> str:
    assert old in path
    return path.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("300x200", "3000x200"),
        ("300x200", "300x0"),
        ("fit-in/", ""),
        ("smart/", ""),
        ("quality(80)", "quality(90)"),
        ("format(webp)", "format(png)"),
        (":quality(80)", ""),
        (IMAGE_ID, "00000000-0000-4000-8000-000000000000"),
    ],
)
def test_tampered_path_is_forbidden(old: str, new: str) -> None:
    path = thumbor_url(
        width=300,
        height=200,
        fit_in=True,
        smart=True,
        filters=["format(webp)", "quality(80)"],
    )
    with pytest.raises(Forbidden, match="invalid thumbor signature"):
        parse_and_verify(tampered(path, old, new))


def test_wrong_key_is_forbidden() -> None:
    path = thumbor_url(key=b"someone-else", width=300, height=200)
    with pytest.raises(Forbidden, match="invalid thumbor signature"):
        parse_and_verify(path)


def test_tampered_signature_is_forbidden() -> None:
    path = thumbor_url(width=300, height=200)
    signature = path[1:29]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(Forbidden, match="invalid thumbor signature"):
        parse_and_verify(tampered(path, signature, flipped))


def test_signature_of_another_url_is_forbidden() -> None:
    other = thumbor_url(width=10, height=10)
    path = thumbor_url(width=300, height=200)
    with pytest.raises(Forbidden):
        parse_and_verify(other[:29] + path[29:])


def test_no_key_configured_refuses_everything() -> None:
    path = CryptoURL(key=b"").generate(width=10, height=10, image_url=IMAGE_ID)
    request = parse_thumbor_path(path)
    assert request.signature is not None
    with pytest.raises(Forbidden, match="no thumbor security key"):
        verify_thumbor_signature(request.signed_part, request.signature, b"")


def test_unsafe_is_refused_unless_allowed() -> None:
    path = "/" + CryptoURL(key=KEY).generate(width=300, height=200, unsafe=True, image_url=IMAGE_ID)
    assert path == f"/unsafe/300x200/{IMAGE_ID}"
    with pytest.raises(Forbidden, match="unsafe thumbor URLs are not allowed"):
        parse_thumbor_path(path)
    request = parse_thumbor_path(path, allow_unsafe=True)
    assert request.unsafe and request.signature is None
    assert (request.w, request.h, request.image_id) == (300, 200, IMAGE_ID)


def refused(path: str, message: str, max_dimension: int = 4096) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_thumbor_path(path, max_dimension=max_dimension)


def signed(signed_part: str) -> str:
    return f"/{thumbor_signature(signed_part, KEY)}/{signed_part}"


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (["blur(7)"], r"filter 'blur' is not supported \(only format and quality\)"),
        (["format(webp)", "watermark(x.png,0,0,0)"], "filter 'watermark' is not supported"),
        (["format(bmp)"], r"'format\(bmp\)': format must be one of jpeg, webp, png, gif, avif"),
        (["format(WEBP)"], "format must be one of"),
        (["quality(0)"], r"'quality\(0\)': quality must be 1 to 100"),
        (["quality(101)"], "quality must be 1 to 100"),
        (["quality(8O)"], "quality must be 1 to 100"),
        (["quality(99999999999999999999)"], "quality must be 1 to 100"),
        (["quality(-5)"], "quality must be 1 to 100"),
        (["quality(80)", "quality(90)"], "filter 'quality' is given twice"),
        (["quality"], "filter 'quality' is not name"),
    ],
)
def test_unknown_or_bad_filters_are_named(filters: list[str], message: str) -> None:
    refused(thumbor_url(width=300, height=200, filters=filters), message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"width": 300, "height": 200, "flip": True}, "negative width means a flip"),
        ({"width": 300, "height": 200, "flop": True}, "negative height means a flip"),
        ({"flip": True, "flop": True}, "means a flip"),
        ({"crop": ((10, 20), (300, 400))}, r"'10x20:300x400': manual crops \(AxB:CxD\)"),
        ({"width": 300, "height": 200, "halign": "left"}, "halign 'left' is not supported"),
        ({"width": 300, "height": 200, "valign": "top"}, "valign 'top' is not supported"),
        ({"width": 300, "height": 200, "meta": True}, "'meta'"),
        ({"width": 300, "height": 200, "trim": True}, "'trim': trim is not supported"),
        ({"width": 300, "height": 200, "full_fit_in": True}, "'full-fit-in' is not supported"),
        ({"width": 300, "height": 200, "adaptive_fit_in": True}, "'adaptive-fit-in'"),
    ],
)
def test_thumbor_features_we_do_not_render_are_refused_by_name(
    options: dict[str, Any], message: str
) -> None:
    refused(thumbor_url(**options), message)


@pytest.mark.parametrize(
    ("signed_part", "message"),
    [
        (f"5000x200/{IMAGE_ID}", "'5000x200': width is over 4096"),
        (f"200x5000/{IMAGE_ID}", "'200x5000': height is over 4096"),
        (f"{'9' * 500}x1/{IMAGE_ID}", "width is over 4096"),
        (f"1x{'9' * 500}/{IMAGE_ID}", "height is over 4096"),
        (f"300xabc/{IMAGE_ID}", "'300xabc' is not WxH in digits"),
        (f"1e3x100/{IMAGE_ID}", "'1e3x100' is not WxH in digits"),
        (f"300x200.5/{IMAGE_ID}", "is not WxH in digits"),
        (f"origx100/{IMAGE_ID}", "'orig' is not supported"),
        (f"fit-in/{IMAGE_ID}", "'fit-in' needs a width or a height"),
        (f"300x200/fit-in/{IMAGE_ID}", "'fit-in' must come before '300x200'"),
        (f"smart/300x200/{IMAGE_ID}", "'300x200' must come before 'smart'"),
        (f"filters:quality(80)/smart/{IMAGE_ID}", "'smart' must come before 'filters:"),
        (f"300x200/300x200/{IMAGE_ID}", "must come before"),
        (f"filters:/{IMAGE_ID}", "'filters:' names no filter"),
        ("300x200/", "no image id after its options"),
        ("300x200/smart", "no image id after its options"),
        ("300x200/not-a-uuid", "'not-a-uuid' is not an imagelake image id"),
        (f"300x200/{IMAGE_ID.upper()}", "is not an imagelake image id"),
        (f"300x200/{IMAGE_ID}.jpg", "is not an imagelake image id"),
        (f"300x200/../{IMAGE_ID}", "'..' segments are refused"),
        (f"300x200/{IMAGE_ID}/..", "'..' segments are refused"),
        (f"300x200/./{IMAGE_ID}", "'..' segments are refused"),
        ("300x200/http://evil.example/x.jpg", "an absolute URL is not an image id"),
        ("300x200/https%3A//evil.example/x.jpg", "has an empty path segment"),
        ("300x200//evil.example/x.jpg", "an absolute URL is not an image id"),
        (f"300x200/file:{IMAGE_ID}", "an absolute URL is not an image id"),
        (f"300x200/a/{IMAGE_ID}", "unsupported thumbor segment 'a'"),
        (f"300x200/{IMAGE_ID}/{IMAGE_ID}", "unsupported thumbor segment"),
        ("300x200/images/x.jpg", "is not one path segment"),
        (f"300x200//{IMAGE_ID}", "an absolute URL is not an image id"),
    ],
)
def test_hostile_paths_are_precise_invalid_input(signed_part: str, message: str) -> None:
    refused(signed(signed_part), message)


def test_the_dimension_limit_is_the_callers() -> None:
    refused(signed(f"600x200/{IMAGE_ID}"), "width is over 512", max_dimension=512)
    assert parse_thumbor_path(signed(f"512x512/{IMAGE_ID}"), max_dimension=512).w == 512


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "needs a signature"),
        ("/", "needs a signature"),
        (f"/{IMAGE_ID}", "needs a signature"),
        (f"/300x200/{IMAGE_ID}", r"signature '300x200' is not 28 URL-safe base64 characters"),
        (f"//300x200/{IMAGE_ID}", "signature '' is not"),
        (f"/{'A' * 27}/300x200/{IMAGE_ID}", "is not 28 URL-safe base64"),
        (f"/{'A' * 26}+=/300x200/{IMAGE_ID}", "is not 28 URL-safe base64"),
        (f"/{'A' * 27}=/300x200/{IMAGE_ID}é", "non-ASCII or control characters"),
        (f"/{'A' * 27}=/300x200/{IMAGE_ID}\n", "non-ASCII or control characters"),
        (f"/{'A' * 27}=/300x200/{'a' * 3000}", "longer than 2048"),
        (f"/{'A' * 27}=/\uff13\uff10\uff10x200/{IMAGE_ID}", "non-ASCII"),
    ],
)
def test_malformed_paths_are_invalid_input(path: str, message: str) -> None:
    refused(path, message)


def test_the_signed_part_is_exactly_what_follows_the_signature() -> None:
    path = thumbor_url(width=300, height=200, fit_in=True, filters=["quality(80)"])
    request = parse_thumbor_path(path)
    assert request.signed_part == f"fit-in/300x200/filters:quality(80)/{IMAGE_ID}"


def test_halign_and_valign_defaults_spelled_out_are_accepted() -> None:
    request = parse_and_verify(signed(f"300x200/center/middle/smart/{IMAGE_ID}"))
    assert (request.w, request.h, request.smart) == (300, 200, True)
