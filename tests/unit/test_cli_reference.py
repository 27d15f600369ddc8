"""docs/cli.md is the CLI's own help, regenerated: a help text changed without the page fails."""

from __future__ import annotations

from pathlib import Path

from kimibridge.cli._reference import render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_cli_md_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `python -m kimibridge.cli._reference > docs/cli.md`"
    )


def test_every_command_group_is_documented() -> None:
    from kimibridge.cli._root import COMMANDS

    text = render()
    for name in COMMANDS:
        assert f"## `kimibridge {name}`" in text
