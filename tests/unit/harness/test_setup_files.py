"""setup's file engine: merge, back up, undo byte for byte (JSON and TOML, new and existing files)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import tomlkit

from kimibridge.errors import ConfigError
from kimibridge.harness.patches import ConfigPatch
from kimibridge.harness.setup_files import (
    apply_changes,
    diff_text,
    manifest_path,
    plan_changes,
    undo_setup,
)

JSON_BEFORE = b'{\n    "theme": "dark",\n    "env": {"KEEP": "1"}, "list": [1,2]\n}'  # odd layout
TOML_BEFORE = b"""# the user's comment
default_model = "mine"   # trailing comment

[providers.other]
type = "openai"
"""


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _patches(home: Path) -> list[ConfigPatch]:
    return [
        ConfigPatch(
            home / "a" / "settings.json", "json", ("env", "ANTHROPIC_BASE_URL"), "http://x"
        ),
        ConfigPatch(home / "a" / "settings.json", "json", ("model",), "kimi"),
        ConfigPatch(
            home / "b" / "config.toml", "toml", ("providers", "kimibridge"), {"type": "kimi"}
        ),
        ConfigPatch(home / "b" / "config.toml", "toml", ("default_model",), "kimibridge/k"),
        ConfigPatch(home / "new" / "deep" / "models.json", "json", ("providers", "kb"), {"a": 1}),
        # A second new file in the directory the first one created.
        ConfigPatch(home / "new" / "deep" / "settings.json", "json", ("x",), 1),
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "a").mkdir(parents=True)
    (home / "b").mkdir()
    (home / "a" / "settings.json").write_bytes(JSON_BEFORE)
    (home / "a" / "settings.json").chmod(0o644)
    (home / "b" / "config.toml").write_bytes(TOML_BEFORE)
    return home


def test_apply_merges_and_keeps_what_was_there(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    written = apply_changes(plan_changes(_patches(home)), state, "x")
    assert len(written) == 4
    settings = json.loads((home / "a" / "settings.json").read_text())
    assert settings == {
        "theme": "dark",
        "env": {"KEEP": "1", "ANTHROPIC_BASE_URL": "http://x"},
        "list": [1, 2],
        "model": "kimi",
    }
    assert (home / "a" / "settings.json").stat().st_mode & 0o777 == 0o644  # its mode is kept
    toml = (home / "b" / "config.toml").read_text()
    assert toml.startswith("# the user's comment\n")
    assert "# trailing comment" in toml
    doc = tomlkit.parse(toml)
    assert doc["default_model"] == "kimibridge/k"
    assert doc["providers"]["other"]["type"] == "openai"
    assert doc["providers"]["kimibridge"]["type"] == "kimi"
    new = home / "new" / "deep" / "models.json"
    assert json.loads(new.read_text()) == {"providers": {"kb": {"a": 1}}}
    assert new.stat().st_mode & 0o777 == 0o600  # it holds a key


def test_undo_is_byte_identical_and_deletes_what_setup_created(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    before = _tree(home)
    apply_changes(plan_changes(_patches(home)), state, "x")
    # A second setup (e.g. another model) must not make its own output the "original".
    again = [
        ConfigPatch(home / "a" / "settings.json", "json", ("model",), "other"),
        ConfigPatch(home / "b" / "config.toml", "toml", ("default_model",), "kimibridge/z"),
    ]
    apply_changes(plan_changes(again), state, "x")
    assert _tree(home) != before
    result = undo_setup(state, "x")
    assert result is not None
    assert _tree(home) == before
    assert (home / "a" / "settings.json").read_bytes() == JSON_BEFORE
    assert (home / "a" / "settings.json").stat().st_mode & 0o777 == 0o644
    assert not (home / "new").exists()  # the file and the directories setup created
    assert sorted(p.name for p in result.restored) == ["config.toml", "settings.json"]
    assert sorted(p.name for p in result.deleted) == ["models.json", "settings.json"]
    assert result.edited_since == []
    assert not manifest_path(state, "x").exists()
    assert undo_setup(state, "x") is None


def test_undo_after_a_user_edit_keeps_their_copy(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    apply_changes(plan_changes(_patches(home)[:1]), state, "x")
    (home / "a" / "settings.json").write_text('{"edited": true}\n')
    result = undo_setup(state, "x")
    assert result is not None and result.edited_since == [home / "a" / "settings.json"]
    assert (home / "a" / "settings.json").read_bytes() == JSON_BEFORE
    kept = manifest_path(state, "x").parent / "edited-settings.json"
    assert kept.read_text() == '{"edited": true}\n'


def test_plan_writes_nothing(home: Path, tmp_path: Path) -> None:
    before = _tree(home)
    changes = plan_changes(_patches(home))
    assert _tree(home) == before
    assert not (tmp_path / "state").exists()
    texts = [diff_text(c) for c in changes]
    assert '+  "model": "kimi"' in texts[0]
    assert texts[2].startswith("--- /dev/null")


def test_unchanged_files_are_not_written(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    apply_changes(plan_changes(_patches(home)), state, "x")
    assert apply_changes(plan_changes(_patches(home)), state, "x") == []


def test_bad_files_are_one_clear_error(home: Path) -> None:
    (home / "a" / "settings.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"settings.json is not valid JSON"):
        plan_changes(_patches(home)[:1])
    (home / "b" / "config.toml").write_text("= nope")
    with pytest.raises(ConfigError, match=r"config.toml is not valid TOML"):
        plan_changes(_patches(home)[2:3])
    (home / "a" / "settings.json").write_text('{"env": "a string"}')
    with pytest.raises(ConfigError, match="expected a JSON object"):
        plan_changes(_patches(home)[:1])
