"""Which tools `kimibridge mcp` serves: user settings, deep-merged with the project's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimibridge.config import Paths, Settings
from kimibridge.errors import ConfigError
from kimibridge.tools.enabled import enabled_tools, find_project_file, merged_tools


def _settings(tmp_path: Path, text: str = "") -> Settings:
    paths = Paths.from_env({"KIMIBRIDGE_HOME": str(tmp_path / "kb")})
    if text:
        paths.config_dir.mkdir(parents=True)
        paths.config_file.write_text(text)
    return Settings.load(paths, environ={})


def test_all_on_by_default(tmp_path: Path) -> None:
    assert enabled_tools(_settings(tmp_path), tmp_path) == (
        "moonshot_search",
        "moonshot_fetch",
        "kimi_datasource",
    )


def test_project_file_wins_per_key_and_is_found_from_a_subfolder(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        "[tools.moonshot_search]\nenabled = false\n[tools.kimi_datasource]\nenabled = false\n",
    )
    project = tmp_path / "repo"
    (project / "a" / "b").mkdir(parents=True)
    (project / ".kimibridge.toml").write_text("[tools.kimi_datasource]\nenabled = true\n")
    tools, source = merged_tools(settings, project / "a" / "b")
    assert source == project / ".kimibridge.toml"
    assert (tools.moonshot_search.enabled, tools.kimi_datasource.enabled) == (False, True)
    assert enabled_tools(settings, project / "a") == ("moonshot_fetch", "kimi_datasource")
    assert find_project_file(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('api_base_url = "https://evil.example"\n', r"may only hold a \[tools\] table"),
        ("[tools.moonshot_browse]\nenabled = true\n", "unknown setting tools.moonshot_browse"),
        ('[tools.moonshot_fetch]\nenabled = "no"\n', "must be true or false"),
        ("[tools\n", "not valid TOML"),
    ],
)
def test_bad_project_files_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / ".kimibridge.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        merged_tools(_settings(tmp_path / "user"), tmp_path)
