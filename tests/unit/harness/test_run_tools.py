"""`kimibridge run <harness> --tools`: the launch carries the kimibridge MCP server (the same entry
`setup --tools` writes) through the harness's own per-run mechanism, only when asked, and writes
nothing into the user's config."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from kimibridge.cli.run import split_options
from kimibridge.errors import ConfigError
from kimibridge.harness import claude, kimi, opencode, pi
from kimibridge.harness.tool_registration import tool_patches
from kimibridge.tools.spec import CLIENT_TIMEOUT_MS

SERVER = [sys.executable, "-m", "kimibridge", "mcp"]


@dataclass(frozen=True)
class Ctx:
    config_dir: Path
    environ: Mapping[str, str]
    gateway_url: str = "http://127.0.0.1:8765"
    api_key: str = "kb-local-key-123456789012"
    catalog_file: Path | None = None
    model: str | None = None


def _environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    # One ENTRY_ENV variable set, one credential-like variable that must never reach the entry.
    return {
        "HOME": str(tmp_path),
        "PATH": str(tmp_path / "bin"),
        "KIMIBRIDGE_HOME": str(tmp_path / "kbhome"),
        "KIMI_API_KEY": "sk-never-in-the-entry",
        **extra,
    }


def _fake_bin(tmp_path: Path, name: str) -> Path:
    (tmp_path / "bin").mkdir(exist_ok=True)
    path = tmp_path / "bin" / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def _setup_entry(harness: str, environ: Mapping[str, str]) -> object:
    """The MCP server entry `setup <harness> --tools` writes (its first patch)."""
    patch, *_timeout = tool_patches(harness, environ)
    return patch.value


def test_split_options_takes_tools_before_the_double_dash_only() -> None:
    assert split_options(["--tools", "-p", "hi"]).tools is True
    opts = split_options(["-p", "hi", "--", "--tools"])
    assert opts.tools is False and opts.rest == ["-p", "hi", "--tools"]


def test_claude_gets_an_mcp_config_argument_only_with_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = _fake_bin(tmp_path, "claude-bin")
    environ = _environ(tmp_path, KIMIBRIDGE_CLAUDE_BIN=str(fake))
    ctx = Ctx(tmp_path / "kb", environ)
    plain = claude.HARNESS.launch(ctx, ["-p", "hi"])
    assert plain.argv == [str(fake), "-p", "hi"]

    launch = claude.HARNESS.launch(ctx, ["-p", "hi"], tools=True)
    flag, *rest = launch.argv[1:]
    assert rest == ["-p", "hi"]
    # The `=` form: Claude Code's --mcp-config takes several values and would swallow "hi".
    name, _, value = flag.partition("=")
    assert name == "--mcp-config"
    entry = json.loads(value)["mcpServers"]["kimibridge"]
    assert entry == {
        "type": "stdio",
        "command": SERVER[0],
        "args": SERVER[1:],
        "env": {"KIMIBRIDGE_HOME": str(tmp_path / "kbhome")},
    }
    assert entry == _setup_entry("claude", environ)
    assert not (tmp_path / ".claude.json").exists() and not (tmp_path / ".claude").exists()


def test_claude_direct_gets_it_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fake = _fake_bin(tmp_path, "claude-bin")
    environ = _environ(tmp_path, KIMIBRIDGE_CLAUDE_BIN=str(fake))
    launch = claude.direct_launch(environ, ["-y"], stored_api_key=None, tools=True)
    assert launch.argv[1].startswith("--mcp-config={")
    assert launch.argv[2:] == ["--dangerously-skip-permissions"]


def test_opencode_config_content_holds_mcp_kimibridge_only_with_tools(tmp_path: Path) -> None:
    _fake_bin(tmp_path, "opencode")
    theirs = {"mcp": {"theirs": {"type": "remote", "url": "http://127.0.0.1:1/mcp"}}}
    environ = _environ(tmp_path, OPENCODE_CONFIG_CONTENT=json.dumps(theirs))
    ctx = Ctx(tmp_path / "kb", environ)
    plain = json.loads(opencode.HARNESS.launch(ctx, ["run", "hi"]).env["OPENCODE_CONFIG_CONTENT"])
    assert plain["mcp"] == theirs["mcp"]

    launch = opencode.HARNESS.launch(ctx, ["run", "hi"], tools=True)
    assert launch.argv[1:] == ["run", "hi"]
    config = json.loads(launch.env["OPENCODE_CONFIG_CONTENT"])
    assert set(config["mcp"]) == {"theirs", "kimibridge"}
    entry = config["mcp"]["kimibridge"]
    assert entry == {
        "type": "local",
        "command": SERVER,
        "environment": {"KIMIBRIDGE_HOME": str(tmp_path / "kbhome")},
        "enabled": True,
    }
    assert entry == _setup_entry("opencode", environ)
    assert "kimibridge" in config["provider"]  # the provider is still there
    assert not (tmp_path / ".config").exists()


def test_kimi_gets_an_mcp_config_argument_only_with_tools(
    tmp_path: Path, stub_python: Path
) -> None:
    environ = _environ(tmp_path, **{kimi.ENV_KIMI_PYTHON: str(stub_python)})
    ctx = Ctx(tmp_path / "kb", environ)
    own = tmp_path / "kb" / "kimi-cli" / "config.toml"
    prefix = [str(stub_python), "-m", "kimi_cli.cli", "--config-file", str(own)]
    plain = kimi.HARNESS.launch(ctx, ["--print", "-p", "hi"])
    assert plain.argv == [*prefix, "--print", "-p", "hi"]
    assert "tool_call_timeout_ms" not in own.read_text()

    launch = kimi.HARNESS.launch(ctx, ["--print", "-p", "hi"], tools=True)
    assert launch.argv[: len(prefix)] == prefix
    flag, value, *rest = launch.argv[len(prefix) :]
    assert flag == "--mcp-config" and rest == ["--print", "-p", "hi"]
    entry = json.loads(value)["mcpServers"]["kimibridge"]
    assert entry == {
        "command": SERVER[0],
        "args": SERVER[1:],
        "env": {"KIMIBRIDGE_HOME": str(tmp_path / "kbhome")},
    }
    assert entry == _setup_entry("kimi", environ)
    assert "KIMI_API_KEY" not in launch.env  # still dropped for the harness itself
    assert not (tmp_path / ".kimi").exists()
    # kimi-cli's 60 s MCP call timeout would cut a Kimi search that may take 180 s
    timeout = tomllib.loads(own.read_text())["mcp"]["client"]["tool_call_timeout_ms"]
    assert timeout == CLIENT_TIMEOUT_MS > 180_000


def test_pi_with_tools_is_one_line(tmp_path: Path) -> None:
    _fake_bin(tmp_path, "pi")
    ctx = Ctx(tmp_path / "kb", _environ(tmp_path))
    with pytest.raises(ConfigError) as caught:
        pi.HARNESS.launch(ctx, ["-p", "hi"], tools=True)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("pi does not load MCP servers")
    assert "kimibridge mcp --http" in message
    assert not (tmp_path / "kb").exists()
