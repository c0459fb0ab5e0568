"""The README's configuration table is generated from the settings; keep them in step."""

from __future__ import annotations

from pathlib import Path

from imagelake.config import settings_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_table_matches_settings() -> None:
    text = README.read_text()
    table = text.split("<!-- config:start -->\n", 1)[1].split("<!-- config:end -->", 1)[0]
    assert table == settings_markdown(), "run `imagelake config --markdown` into the README"
