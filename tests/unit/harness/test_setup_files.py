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
    assert result.restored_whole == {}
    # Their rewrite stays (our key was already gone from it), and a copy is kept.
    assert json.loads((home / "a" / "settings.json").read_text()) == {"edited": True}
    kept = manifest_path(state, "x").parent / "edited-settings.json"
    assert kept.read_text() == '{"edited": true}\n'


def _edit_json(path: Path, **changes: object) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def test_undo_of_an_edited_json_file_takes_out_only_our_keys(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = home / "a" / "settings.json"
    patches = [
        *_patches(home)[:2],
        ConfigPatch(settings, "json", ("theme",), "kimi-dark"),  # overwrites the user's value
        ConfigPatch(settings, "json", ("kb", "deep", "x"), 1),  # parents setup creates
    ]
    apply_changes(plan_changes(patches), state, "x")
    # A later setup with another key: the union is undone.
    apply_changes(plan_changes([ConfigPatch(settings, "json", ("extra",), True)]), state, "x")
    _edit_json(settings, verbose=True, list=[3])  # a harness or the user, after setup
    doc = json.loads(settings.read_text())
    doc["kb"]["mine"] = 2  # the user put something into a table setup created
    settings.write_text(json.dumps(doc))

    result = undo_setup(state, "x")
    assert result is not None
    assert result.edited_since == [settings] and result.restored_whole == {}
    assert result.restored == [] and result.deleted == []
    assert json.loads(settings.read_text()) == {
        "theme": "dark",  # our overwrite undone
        "env": {"KEEP": "1"},  # our key gone, theirs kept
        "list": [3],  # their edit kept
        "verbose": True,
        "kb": {"mine": 2},  # "deep" (empty now, ours) gone; "kb" holds theirs
    }
    assert settings.stat().st_mode & 0o777 == 0o644
    kept = manifest_path(state, "x").parent / "edited-settings.json"
    assert json.loads(kept.read_text())["verbose"] is True


def test_undo_drops_emptied_parents_setup_created(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = home / "a" / "settings.json"
    apply_changes(plan_changes([ConfigPatch(settings, "json", ("kb", "deep", "x"), 1)]), state, "x")
    _edit_json(settings, theme="light")
    undo_setup(state, "x")
    assert json.loads(settings.read_text()) == {
        "theme": "light",
        "env": {"KEEP": "1"},
        "list": [1, 2],
    }


def test_undo_of_an_edited_toml_file_keeps_edits_and_comments(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = home / "b" / "config.toml"
    apply_changes(plan_changes(_patches(home)[2:4]), state, "x")
    text = config.read_text()
    text = text.replace('type = "openai"', 'type = "anthropic"  # switched')
    config.write_text("# added by the user\n" + text + "\n[extra]\nmine = 1\n")

    result = undo_setup(state, "x")
    assert result is not None and result.edited_since == [config]
    assert result.restored_whole == {}
    after = config.read_text()
    assert after.startswith("# added by the user\n# the user's comment\n")
    assert 'type = "anthropic"  # switched' in after
    assert "kimibridge" not in after
    doc = tomlkit.parse(after)
    assert doc["default_model"] == "mine"  # the value we overwrote is back
    assert doc["providers"]["other"]["type"] == "anthropic"
    assert "kimibridge" not in doc["providers"]
    assert doc["extra"]["mine"] == 1


def test_undo_of_an_edited_toml_drops_tables_setup_created(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = home / "b" / "config.toml"
    patch = ConfigPatch(config, "toml", ("mcp", "servers", "kb"), {"command": "kimibridge"})
    apply_changes(plan_changes([patch]), state, "x")
    config.write_text(config.read_text().replace("# the user's comment", "# reworded"))
    undo_setup(state, "x")
    assert config.read_text() == TOML_BEFORE.decode().replace("# the user's comment", "# reworded")


def test_an_edited_file_setup_created_is_kept_without_our_keys(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    apply_changes(plan_changes(_patches(home)), state, "x")
    models = home / "new" / "deep" / "models.json"
    _edit_json(models, theirs={"a": 1})
    result = undo_setup(state, "x")
    assert result is not None
    assert result.edited_since == [models] and result.restored_whole == {}
    assert json.loads(models.read_text()) == {"theirs": {"a": 1}}
    # The untouched new file next to it is deleted; the directories holding theirs stay.
    assert result.deleted == [home / "new" / "deep" / "settings.json"]
    assert sorted(p.name for p in (home / "new" / "deep").iterdir()) == ["models.json"]
    assert (home / "a" / "settings.json").read_bytes() == JSON_BEFORE  # untouched: exact


def test_an_unparseable_edited_file_is_restored_whole(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    apply_changes(plan_changes(_patches(home)), state, "x")
    settings, config = home / "a" / "settings.json", home / "b" / "config.toml"
    models = home / "new" / "deep" / "models.json"
    settings.write_text('{"half": ')
    config.write_text("= nope")
    models.write_text("[1, 2")
    result = undo_setup(state, "x")
    assert result is not None
    assert result.restored_whole == {
        settings: "it no longer parses as JSON",
        config: "it no longer parses as TOML",
        models: "it no longer parses as JSON",
    }
    assert settings.read_bytes() == JSON_BEFORE
    assert config.read_bytes() == TOML_BEFORE
    assert not (home / "new").exists()
    kept = manifest_path(state, "x").parent
    assert (kept / "edited-settings.json").read_text() == '{"half": '
    assert (kept / "edited-config.toml").read_text() == "= nope"


def test_a_record_without_key_paths_keeps_the_whole_file_undo(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = home / "a" / "settings.json"
    apply_changes(plan_changes(_patches(home)[:2]), state, "x")
    record = manifest_path(state, "x")
    manifest = json.loads(record.read_text())
    for entry in manifest["files"].values():  # as an older kimibridge wrote it
        del entry["keys"], entry["format"]
    record.write_text(json.dumps(manifest))
    # A newer setup must not start a key list it would only know part of.
    apply_changes(plan_changes([ConfigPatch(settings, "json", ("extra",), 1)]), state, "x")
    assert "keys" not in json.loads(record.read_text())["files"][str(settings)]
    _edit_json(settings, verbose=True)
    result = undo_setup(state, "x")
    assert result is not None
    assert result.restored_whole == {settings: "its setup record predates key-level undo"}
    assert settings.read_bytes() == JSON_BEFORE


def test_the_record_holds_the_union_of_key_paths(home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = home / "a" / "settings.json"
    apply_changes(plan_changes(_patches(home)[:2]), state, "x")
    again = [
        ConfigPatch(settings, "json", ("model",), "other"),
        ConfigPatch(settings, "json", ("extra",), 1),
    ]
    apply_changes(plan_changes(again), state, "x")
    entry = json.loads(manifest_path(state, "x").read_text())["files"][str(settings)]
    assert entry["format"] == "json"
    assert entry["keys"] == [["env", "ANTHROPIC_BASE_URL"], ["model"], ["extra"]]


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
