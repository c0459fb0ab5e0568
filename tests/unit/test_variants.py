"""The transform grammar of delivery URLs: parsed, checked, normalised."""

from __future__ import annotations

import pytest

from imagelake.domain.errors import ConfigError, InvalidInput
from imagelake.domain.variants import (
    ORIGINAL,
    Fit,
    Format,
    Gravity,
    Presets,
    Render,
    Variant,
    negotiate,
    parse_presets,
    parse_variant,
    size_presets,
)

MAX = 4096
PRESETS = Presets(
    sizes=size_presets((128, 256, 512), "jpeg", 82),
    named={"card": Variant(w=300, h=200, fit=Fit.COVER)},
)


def parse(**params: str) -> Variant:
    return parse_variant(params, PRESETS, MAX)


def test_every_parameter_is_read() -> None:
    variant = parse(
        w="512", h="300", fit="cover", gravity="smart", format="webp", quality="80", dpr="2",
        enlarge="1",
    )  # fmt: skip

    assert variant == Variant(1024, 600, Fit.COVER, Gravity.SMART, Format.WEBP, 80, 1, True)


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
        ({"preset": "hero"}, "no preset 'hero'; known: card"),
        ({"preset": "128"}, "no preset '128'; known: card"),
        ({"size": "card"}, "no size 'card'; known: 128, 256, 512, original"),
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
    assert parse(size="256") == Variant(w=256, h=256, format=Format.JPEG, quality=82)
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
        Variant(h=192, format=Format.PNG, enlarge=True),
        Variant(w=10, h=20, fit=Fit.FILL, format=Format.WEBP, quality=5),
    ],
)
def test_the_normal_form_round_trips(variant: Variant) -> None:
    assert parse_variant(variant.to_params(), PRESETS, MAX) == variant


def test_one_transform_has_one_key_whatever_the_spelling() -> None:
    a = parse(w="512", fit="inside", quality="80")
    b = parse(quality="80", w="0512", gravity="center", dpr="1", enlarge="0")

    assert a.key == b.key == "512x0-q80-auto"
    assert a.key != parse(w="512", quality="81").key
    assert "enlarge" in parse(w="10", enlarge="1").key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"w": "100", "dpr": "2"}, {"w": "200"}),  # dpr is a multiplier of the size
        ({"w": "100", "fit": "cover"}, {"w": "100"}),  # one side given: every fit is inside
        ({"w": "9", "h": "9", "gravity": "north"}, {"w": "9", "h": "9"}),  # gravity crops only
        ({"w": "9", "format": "png", "quality": "50"}, {"w": "9", "format": "png"}),
        ({"format": "gif", "quality": "50"}, {"format": "gif"}),
        ({"enlarge": "1"}, {}),  # nothing to enlarge to
        ({"dpr": "3"}, {}),
    ],
)
def test_settings_that_cannot_change_the_output_do_not_change_the_key(
    a: dict[str, str], b: dict[str, str]
) -> None:
    assert parse_variant(a, PRESETS, MAX).key == parse_variant(b, PRESETS, MAX).key


def test_keys_name_every_setting_that_matters() -> None:
    variant = parse(w="300", h="200", fit="cover", gravity="smart", quality="70", enlarge="1")

    assert variant.key == "300x200-cover-smart-enlarge-q70-auto"
    assert parse().key == "original"
    assert parse(format="webp").key == "full-webp"


@pytest.mark.parametrize(
    "text",
    [
        "card",
        "Card=w:1",
        "card=w:300;card2=w",
        "x=preset:card",
        "x=w:5000",
        "x=fit:odd",
        "card=w:1;card=w:2",
        "card=w:1,w:2",
    ],
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
    ("accept", "chosen", "png_if_alpha"),
    [
        ("image/avif,image/webp,*/*", Format.AVIF, False),
        ("image/avif;q=0, image/webp", Format.WEBP, False),
        ("image/avif;q=0, image/webp, image/avif", Format.WEBP, False),  # q=0 is final
        ("image/webp;q=0.5", Format.WEBP, False),
        ("image/avif;q=inf", Format.JPEG, True),
        ("image/avif;q=nan,image/webp;q=2", Format.JPEG, True),
        ("image/*,*/*;q=0.8", Format.JPEG, True),
        ("", Format.JPEG, True),
        ("image/avif;q=oops", Format.JPEG, True),
    ],
)
def test_auto_picks_by_accept(accept: str, chosen: Format, png_if_alpha: bool) -> None:
    render = negotiate(Variant(w=10, format=Format.AUTO), accept, 82)

    assert (render.variant.format, render.png_if_alpha) == (chosen, png_if_alpha)


def test_an_explicit_format_is_kept_whatever_accept_says() -> None:
    render = negotiate(Variant(w=10, format=Format.GIF), "image/avif", 82)

    assert render == Render(Variant(w=10, format=Format.GIF), png_if_alpha=False)


def test_quality_defaults_per_format_and_names_are_unique_per_output() -> None:
    webp = negotiate(Variant(w=10), "image/webp", 82)
    jpeg = negotiate(Variant(w=10), "", 82)
    png = negotiate(Variant(w=10, format=Format.PNG), "", 82)

    assert webp.variant.quality == 82 and png.variant.quality == 0
    assert (webp.name, jpeg.name, png.name) == ("10x0-q82.webp", "10x0-q82.jpg-or-png", "10x0.png")
