"""The pi, opencode and kimi-cli Harness objects: launches, setup patches, a missing program."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from kimibridge.harness import kimi, opencode, pi
from kimibridge.harness.contract import HarnessMissing


@dataclass(frozen=True)
class Ctx:
    config_dir: Path
    environ: Mapping[str, str]
    gateway_url: str = "http://127.0.0.1:8765"
    api_key: str = "kb-local-key"
    catalog_file: Path | None = None
    model: str | None = None


def _fake_bin(bindir: Path, name: str) -> Path:
    bindir.mkdir(parents=True, exist_ok=True)
    path = bindir / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("harness", "hint"),
    [
        (pi.HARNESS, "npm install -g @mariozechner/pi-coding-agent"),
        (opencode.HARNESS, "npm install -g opencode-ai"),
        (kimi.HARNESS, "uv tool install --python 3.13 kimi-cli"),
    ],
)
def test_a_missing_program_is_one_line_with_the_install_command(
    harness: pi.PiHarness | opencode.OpencodeHarness | kimi.KimiHarness, hint: str, tmp_path: Path
) -> None:
    ctx = Ctx(tmp_path / "kb", {"PATH": str(tmp_path), "HOME": str(tmp_path)})
    with pytest.raises(HarnessMissing) as caught:
        harness.launch(ctx, [])
    message = str(caught.value)
    assert "\n" not in message and f"`{hint}`" in message
    assert message.startswith(f"{harness.display} is not installed")


def test_pi_launch_writes_its_own_agent_dir_only(tmp_path: Path) -> None:
    binary = _fake_bin(tmp_path / "bin", "pi")
    home = tmp_path / "home"
    (home / ".pi" / "agent").mkdir(parents=True)
    (home / ".pi" / "agent" / "settings.json").write_text('{"theme": "dark"}')
    before = sorted((home / ".pi").rglob("*"))
    ctx = Ctx(tmp_path / "kb", {"PATH": str(binary.parent), "HOME": str(home)}, model="k3")
    launch = pi.HARNESS.launch(ctx, ["-p", "hi"])
    assert launch.argv == [str(binary), "-p", "hi"]
    own = tmp_path / "kb" / "pi-agent"
    assert launch.env["PI_CODING_AGENT_DIR"] == str(own)
    assert launch.env["KIMIBRIDGE_API_KEY"] == "kb-local-key"
    assert launch.env["PI_SKIP_VERSION_CHECK"] == "1" and launch.env["PI_TELEMETRY"] == "0"
    models = json.loads((own / "models.json").read_text())
    provider = models["providers"]["kimibridge"]
    assert provider["apiKey"] == "KIMIBRIDGE_API_KEY"  # no secret in the file
    assert provider["headers"]["User-Agent"].startswith("pi")
    assert provider["models"][0]["id"] == "k3"
    settings = json.loads((own / "settings.json").read_text())
    assert settings == {"theme": "dark", "defaultProvider": "kimibridge", "defaultModel": "k3"}
    assert stat.S_IMODE((own / "models.json").stat().st_mode) == 0o600
    assert sorted((home / ".pi").rglob("*")) == before
    assert (home / ".pi" / "agent" / "settings.json").read_text() == '{"theme": "dark"}'


def test_opencode_launch_writes_nothing_and_keeps_a_users_inline_config(tmp_path: Path) -> None:
    binary = _fake_bin(tmp_path / "bin", "opencode")
    theirs = json.dumps({"theme": "x", "provider": {"other": {"npm": "y"}}})
    environ = {"PATH": str(binary.parent), "HOME": str(tmp_path), "OPENCODE_CONFIG_CONTENT": theirs}
    launch = opencode.HARNESS.launch(Ctx(tmp_path / "kb", environ), ["run", "hi"])
    assert launch.argv == [str(binary), "run", "hi"]
    assert not (tmp_path / "kb").exists()
    config = json.loads(launch.env["OPENCODE_CONFIG_CONTENT"])
    assert config["theme"] == "x"
    assert set(config["provider"]) == {"other", "kimibridge"}
    assert config["model"] == "kimibridge/kimi-for-coding"
    assert launch.env["OPENCODE_DISABLE_MODELS_FETCH"] == "1"


def test_kimi_launch_uses_its_own_config_file(tmp_path: Path, stub_python: Path) -> None:
    user_config = tmp_path / ".kimi" / "config.toml"
    user_config.parent.mkdir()
    user_config.write_text('default_model = "mine"\n')
    environ = {
        "PATH": "",
        "HOME": str(tmp_path),
        "KIMI_API_KEY": "sk-real",
        "KIMI_BASE_URL": "https://elsewhere",
        kimi.ENV_KIMI_PYTHON: str(stub_python),
    }
    launch = kimi.HARNESS.launch(Ctx(tmp_path / "kb", environ), ["--print", "-p", "hi"])
    own = tmp_path / "kb" / "kimi-cli" / "config.toml"
    assert launch.argv == [
        str(stub_python),
        "-m",
        "kimi_cli.cli",
        "--config-file",
        str(own),
        "--print",
        "-p",
        "hi",
    ]
    assert "KIMI_API_KEY" not in launch.env and "KIMI_BASE_URL" not in launch.env
    assert launch.env["KIMI_CLI_NO_AUTO_UPDATE"] == "1"
    config = tomllib.loads(own.read_text())
    assert config["providers"]["kimibridge"]["api_key"] == "kb-local-key"
    assert stat.S_IMODE(own.stat().st_mode) == 0o600
    assert user_config.read_text() == 'default_model = "mine"\n'


def test_setup_patches_point_at_the_users_files(tmp_path: Path) -> None:
    environ = {"PATH": "", "HOME": str(tmp_path)}
    ctx = Ctx(tmp_path / "kb", environ)
    assert {p.path for p in pi.HARNESS.setup_patches(ctx)} == {
        tmp_path / ".pi/agent/models.json",
        tmp_path / ".pi/agent/settings.json",
    }
    assert {p.path for p in opencode.HARNESS.setup_patches(ctx)} == {
        tmp_path / ".config/opencode/opencode.json"
    }
    patches = kimi.HARNESS.setup_patches(ctx)
    assert {p.path for p in patches} == {tmp_path / ".kimi/config.toml"}
    assert [p.key_path[0] for p in patches] == ["providers", "models", "default_model"]
