"""kimi-cli through the gateway: the config text and finding the real CLI behind the 1.52 stub."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kimibridge.harness.kimi import (
    ENV_KIMI_PYTHON,
    INSTALL_HINT,
    KimiCliMissing,
    find_kimi_cli,
    kimi_command,
    kimi_config_toml,
    kimi_setup_patches,
    launch_env,
    openai_base,
    user_config_file,
)
from tests.clients import CLIENTS_DIR
from tests.unit.harness.conftest import install_kimi_cli


def test_config_points_a_kimi_provider_at_the_gateway() -> None:
    text = kimi_config_toml(
        base_url="http://127.0.0.1:8765", api_key="kb-local", model="kimi-for-coding"
    )
    config = tomllib.loads(text)
    assert config["default_model"] == "kimi-for-coding"
    assert config["telemetry"] is False
    assert config["providers"]["kimibridge"] == {
        "type": "kimi",
        "base_url": "http://127.0.0.1:8765/v1",
        "api_key": "kb-local",
    }
    assert config["models"]["kimi-for-coding"] == {
        "provider": "kimibridge",
        "model": "kimi-for-coding",
        "max_context_size": 262144,
        "capabilities": ["thinking"],
    }
    assert "mcp" not in config


def test_config_thinking_only_model_and_mcp_timeout() -> None:
    text = kimi_config_toml(
        base_url="http://127.0.0.1:9/v1/", api_key="k", model="k3", mcp_tool_timeout_ms=600_000
    )
    config = tomllib.loads(text)
    assert config["providers"]["kimibridge"]["base_url"] == "http://127.0.0.1:9/v1"
    assert config["models"]["k3"]["capabilities"] == ["always_thinking", "thinking"]
    assert config["models"]["k3"]["max_context_size"] == 1048576
    assert config["mcp"] == {"client": {"tool_call_timeout_ms": 600_000}}


def test_config_model_names_with_dots_are_quoted() -> None:
    config = tomllib.loads(kimi_config_toml(base_url="http://h:1", api_key="k", model="kimi-k2.5"))
    assert "kimi-k2.5" in config["models"]


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://h:1", "http://h:1/v1"),
        ("http://h:1/", "http://h:1/v1"),
        ("http://h:1/v1", "http://h:1/v1"),
    ],
)
def test_openai_base(url: str, base: str) -> None:
    assert openai_base(url) == base


def test_launch_env_drops_what_would_bypass_the_gateway() -> None:
    env = launch_env({"KIMI_API_KEY": "sk-real", "KIMI_BASE_URL": "https://x", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "KIMI_CLI_NO_AUTO_UPDATE": "1"}


@pytest.mark.parametrize("stub", [True, False])
def test_kimi_on_path_stub_or_not(venv: Path, stub: bool) -> None:
    script = install_kimi_cli(venv, stub=stub)
    python = venv / "bin" / "python"
    install = find_kimi_cli({"PATH": str(venv / "bin"), "HOME": "/nonexistent"})
    assert install.stub is stub
    assert install.python == python
    assert install.argv == ((str(python), "-m", "kimi_cli.cli") if stub else (str(script),))


def test_uv_tool_install_is_found_without_path(venv: Path, tmp_path: Path) -> None:
    install_kimi_cli(venv, stub=True)
    tools = tmp_path / ".local" / "share" / "uv" / "tools"
    tools.mkdir(parents=True)
    (tools / "kimi-cli").symlink_to(venv)
    argv = kimi_command({"PATH": "", "HOME": str(tmp_path)})
    assert argv[1:] == ["-m", "kimi_cli.cli"]
    assert argv[0].endswith("kimi-cli/bin/python")


def test_missing_kimi_cli_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(KimiCliMissing, match=re.escape(INSTALL_HINT)):
        kimi_command({"PATH": str(tmp_path), "HOME": str(tmp_path)})


def test_override_without_kimi_cli_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KimiCliMissing, match=ENV_KIMI_PYTHON):
        kimi_command({ENV_KIMI_PYTHON: sys.executable, "PATH": ""})


def test_a_kimi_script_without_a_python_is_not_used(tmp_path: Path) -> None:
    kimi = tmp_path / "kimi"
    kimi.write_text("#!/bin/sh\necho stub\n")
    kimi.chmod(0o755)
    with pytest.raises(KimiCliMissing):
        kimi_command({"PATH": str(tmp_path), "HOME": str(tmp_path)})


_VENV_PYTHON = CLIENTS_DIR / "kimi-venv" / "bin" / "python"
needs_venv = pytest.mark.skipif(
    not _VENV_PYTHON.exists(), reason="kimi-cli venv missing; run scripts/install-clients"
)


@needs_venv
def test_the_pinned_stub_is_detected_and_run_as_a_module() -> None:
    bindir = _VENV_PYTHON.parent
    install = find_kimi_cli({"PATH": f"{bindir}{os.pathsep}/usr/bin", "HOME": "/nonexistent"})
    assert install.stub
    assert install.argv == (str(_VENV_PYTHON), "-m", "kimi_cli.cli")


@needs_venv
def test_override_python_is_used(tmp_path: Path) -> None:
    argv = kimi_command({ENV_KIMI_PYTHON: str(_VENV_PYTHON), "PATH": str(tmp_path)})
    assert argv == [str(_VENV_PYTHON), "-m", "kimi_cli.cli"]


@needs_venv
def test_kimi_cli_itself_accepts_the_config() -> None:
    text = kimi_config_toml(
        base_url="http://127.0.0.1:1", api_key="kb-x", model="k3", mcp_tool_timeout_ms=1234
    )
    code = (
        "import sys; from kimi_cli.config import load_config_from_string as load; "
        "c = load(sys.stdin.read()); m = c.models[c.default_model]; "
        "print(c.providers[m.provider].type, m.max_context_size, sorted(m.capabilities), "
        "c.mcp.client.tool_call_timeout_ms, c.telemetry)"
    )
    out = subprocess.run(
        [str(_VENV_PYTHON), "-c", code], input=text, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [
        "kimi",
        "1048576",
        "['always_thinking',",
        "'thinking']",
        "1234",
        "False",
    ]


def test_user_config_file(tmp_path: Path) -> None:
    assert user_config_file({"HOME": str(tmp_path)}) == tmp_path / ".kimi" / "config.toml"
    assert user_config_file({"KIMI_SHARE_DIR": str(tmp_path / "s")}) == tmp_path / "s/config.toml"


def test_setup_patches_use_a_prefixed_model_name(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    patches = kimi_setup_patches(target, base_url="http://127.0.0.1:1", api_key="kb-x", model="k3")
    assert [(p.format, p.key_path) for p in patches] == [
        ("toml", ("providers", "kimibridge")),
        ("toml", ("models", "kimibridge/k3")),
        ("toml", ("default_model",)),
    ]
    assert patches[0].value == {
        "type": "kimi",
        "base_url": "http://127.0.0.1:1/v1",
        "api_key": "kb-x",
    }
    assert patches[1].value["provider"] == "kimibridge" and patches[1].value["model"] == "k3"
    assert patches[2].value == "kimibridge/k3"
