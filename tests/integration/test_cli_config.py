"""`kimibridge config show|path|set|unset`, in process through ``kimibridge.cli.main``."""

from __future__ import annotations

import json

import pytest

from kimibridge.cli import main
from kimibridge.config import Paths


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_path_prints_the_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["config", "path"], capsys)
    assert code == 0
    assert out.strip() == str(Paths.from_env().config_file)


def test_show_json_reports_values_and_sources(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _run(["config", "set", "gateway.port", "9100"], capsys)
    assert code == 0, err
    monkeypatch.setenv("KIMIBRIDGE_REGION", "global")
    monkeypatch.setenv("KIMIBRIDGE_CUSTOM_HEADERS", "X-Api-Key: hush\nX-Team: blue")
    code, out, _ = _run(["config", "show", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    file = str(Paths.from_env().config_file)
    assert data["gateway.port"] == {"value": 9100, "source": f"file {file}"}
    assert data["region"] == {"value": "global", "source": "env KIMIBRIDGE_REGION"}
    assert data["identity.preset"] == {"value": "harness", "source": "default"}
    assert data["identity.custom_headers"]["value"] == {"X-Api-Key": "***", "X-Team": "blue"}
    assert "hush" not in out


def test_show_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["config", "show"], capsys)
    assert code == 0
    assert "identity.preset" in out and "harness" in out and "default" in out


def test_set_and_unset_keep_comments(capsys: pytest.CaptureFixture[str]) -> None:
    path = Paths.from_env().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# mine\n")
    assert _run(["config", "set", "identity.preset", "kimibridge"], capsys)[0] == 0
    assert 'preset = "kimibridge"' in path.read_text()
    assert _run(["config", "unset", "identity.preset"], capsys)[0] == 0
    text = path.read_text()
    assert "# mine" in text and "kimibridge" not in text


def test_bad_value_is_one_line_and_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["config", "set", "region", "mars"], capsys)
    assert code == 1
    assert "region is 'mars'; expected mainland or global" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert not Paths.from_env().config_file.exists()


def test_bad_environment_value_is_reported_by_show(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIMIBRIDGE_PORT", "eighty")
    code, _, err = _run(["config", "show"], capsys)
    assert code == 1
    assert "KIMIBRIDGE_PORT is 'eighty'" in err


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["config", "show", "-h"], ["login", "-h"], ["status", "-h"], ["logout", "-h"]):
        code, out, _ = _run(args, capsys)
        assert code == 0
        assert "Examples:" in out and "kimibridge " in out


def test_set_and_show_the_handoff_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["config", "set", "team.handoff_timeout", "900"], capsys)
    assert code == 0, err
    code, out, _ = _run(["config", "show", "--json"], capsys)
    assert code == 0
    file = str(Paths.from_env().config_file)
    assert json.loads(out)["team.handoff_timeout"] == {"value": 900.0, "source": f"file {file}"}
    code, _, err = _run(["config", "set", "team.handoff_timeout", "0"], capsys)
    assert code != 0
    assert "expected a number of seconds > 0" in err and len(err.strip().splitlines()) == 1
