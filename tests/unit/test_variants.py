"""The transform grammar of delivery URLs: parsed, checked, normalised."""

from __future__ import annotations

import pytest

from imagelake.domain.errors import ConfigError, InvalidInput
from imagelake.domain.variants import (
    ORIGINAL,
    Fit,
    Format,
    Gravity,
    Variant,
    negotiate_format,
    parse_presets,
    parse_variant,
    size_presets,
)

MAX = 4096
PRESETS = {**size_presets((128, 256, 512)), **parse_presets("card=w:300,h:200,fit:cover", MAX)}


def parse(**params: str) -> Variant:
    return parse_variant(params, PRESETS, MAX)


def test_every_parameter_is_read() -> None:
    variant = parse(
        w="512", h="300", fit="cover", gravity="smart", format="webp", quality="80", dpr="2",
        enlarge="1",
    )  # fmt: skip

    assert variant == Variant(512, 300, Fit.COVER, Gravity.SMART, Format.WEBP, 80, 2, True)


def test_unknown_parameters_are_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse(w="10", width="512", foo="1")

    message = str(raised.value)
    assert "unknown parameters: foo, width" in message
    assert "known: w, h, fit" in message


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"w": "-1"}, "w must be a whole number from 0 to 4096"),
        ({"w": "99999999999999999999"}, "w must be a whole number"),
        ({"h": "1e3"}, "h must be a whole number"),
        ({"w": "٣"}, "w must be a whole number"),  # an Arabic-Indic digit: isdigit() says yes
        ({"quality": "0"}, "quality must be a whole number from 1 to 100"),
        ({"quality": ""}, "quality must be a whole number"),
        ({"dpr": "5"}, "dpr must be a whole number from 1 to 4"),
        ({"fit": "stretch"}, "fit must be one of: inside, cover, contain, fill"),
        ({"gravity": "up"}, "gravity must be one of: center, north"),
        ({"format": "bmp"}, "format must be one of: auto, jpeg, webp, avif, png, gif"),
        ({"enlarge": "yes"}, "enlarge must be 0 or 1"),
        ({"preset": "hero"}, "no preset 'hero'; known: 128, 256, 512, card, original"),
        ({"size": "64"}, "no size '64'"),
        ({"size": "128", "preset": "card"}, "preset or size, not both"),
        ({"w": "3000", "dpr": "2"}, "6000 px on its long side (with dpr 2); the limit is 4096"),
    ],
)
def test_bad_values_get_a_precise_message(params: dict[str, str], words: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_variant(params, PRESETS, MAX)

    assert words in str(raised.value)


def test_sizes_and_presets_are_variants_and_parameters_override_them() -> None:
    assert parse(size="256") == Variant(w=256, h=256)
    assert parse(size="original") == ORIGINAL
    assert parse(preset="card") == Variant(w=300, h=200, fit=Fit.COVER)
    assert parse(preset="card", format="avif", h="100") == Variant(
        w=300, h=100, fit=Fit.COVER, format=Format.AVIF
    )


@pytest.mark.parametrize(
    "variant",
    [
        ORIGINAL,
        Variant(w=512),
        Variant(w=300, h=200, fit=Fit.COVER, gravity=Gravity.NORTHWEST),
        Variant(h=64, format=Format.PNG, quality=90, dpr=3, enlarge=True),
    ],
)
def test_the_normal_form_round_trips(variant: Variant) -> None:
    assert parse_variant(variant.to_params(), {}, MAX) == variant


def test_one_transform_has_one_key_whatever_the_spelling() -> None:
    a = parse(w="512", fit="inside", quality="80")
    b = parse(quality="80", w="0512", gravity="center", dpr="1", enlarge="0")

    assert a.key == b.key == "w512_h0_inside_center_auto_q80_dpr1"
    assert a.key != parse(w="512", quality="81").key
    assert "enlarge" in parse(w="10", enlarge="1").key


@pytest.mark.parametrize(
    "text",
    ["card", "Card=w:1", "card=w:300;card2=w", "x=preset:card", "x=w:5000", "x=fit:odd"],
)
def test_a_malformed_preset_setting_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="IMAGELAKE_PRESETS"):
        parse_presets(text, MAX)


def test_presets_parse_and_blank_entries_are_ignored() -> None:
    presets = parse_presets(" card = w:300, h:200 , fit:cover ;; hero=w:1600 ;", MAX)

    assert presets == {
        "card": Variant(w=300, h=200, fit=Fit.COVER),
        "hero": Variant(w=1600),
    }


@pytest.mark.parametrize(
    ("accept", "alpha", "chosen"),
    [
        ("image/avif,image/webp,*/*", False, Format.AVIF),
        ("image/avif;q=0, image/webp", False, Format.WEBP),
        ("image/webp;q=0.5", True, Format.WEBP),
        ("image/*,*/*;q=0.8", False, Format.JPEG),
        ("image/*", True, Format.PNG),
        ("", False, Format.JPEG),
        ("image/avif;q=oops", False, Format.JPEG),
    ],
)
def test_auto_picks_by_accept(accept: str, alpha: bool, chosen: Format) -> None:
    assert negotiate_format(Variant(format=Format.AUTO), accept, alpha) == chosen


def test_an_explicit_format_is_kept_whatever_accept_says() -> None:
    assert negotiate_format(Variant(format=Format.GIF), "image/avif", False) == Format.GIF
