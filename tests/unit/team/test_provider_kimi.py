"""The kimi_cli provider's files: the agent's own config (gateway, key, raised MCP timeout), an
agent file extending `default`, MCP servers with the agent id, and a 0600 launch script that
carries no secret."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import Any

import yaml

from kimibridge.team.profiles import parse_profile
from kimibridge.team.providers import LaunchContext, mcp_servers_for, provider_for
from kimibridge.team.providers.kimi_cli import reply_in_transcript
from kimibridge.team.timeouts import TeamTimeouts

PROFILE = """---
name: developer
description: d
allowedTools: ["*"]
mcpServers:
  tools: {command: my-mcp, args: [--stdio], env: {LEVEL: debug, CAO_TERMINAL_ID: keep-me}}
---
Be a developer.
"""
KEY = "kb-secret-local-key-0123456789"


def _ctx(
    tmp_path: Path, profile_text: str = PROFILE, timeouts: TeamTimeouts | None = None
) -> LaunchContext:
    # A stand-in interpreter: answers the package lookup harness.kimi makes, nothing else.
    pkg = tmp_path / "venv" / "lib" / "python3.13" / "site-packages" / "kimi_cli"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "cli" / "__main__.py").write_text("")
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\necho {pkg}\n")
    python.chmod(0o755)
    return LaunchContext(
        agent_id="dev",
        profile=parse_profile(profile_text, source="p.md"),
        project_dir=tmp_path / "proj",
        agent_dir=tmp_path / "agent",
        gateway_url="http://127.0.0.1:9999",
        api_key=KEY,
        environ={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path / "home"),
            "KIMIBRIDGE_KIMI_PYTHON": str(python),
            "KIMI_API_KEY": "user-real-key",
        },
        timeouts=timeouts or TeamTimeouts(),
        wrap=("sandbox", "--"),
    )


def test_prepare_writes_the_agents_own_files(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    command = provider_for("kimi_cli").prepare(ctx)
    d = ctx.agent_dir
    assert command == ["/bin/sh", str(d / "launch.sh")]

    config = tomllib.loads((d / "kimi" / "config.toml").read_text())
    assert config["providers"]["kimibridge"]["base_url"] == "http://127.0.0.1:9999/v1"
    assert config["providers"]["kimibridge"]["api_key"] == KEY
    assert config["mcp"]["client"]["tool_call_timeout_ms"] == TeamTimeouts().mcp_tool_timeout_ms
    assert config["telemetry"] is False

    agent = yaml.safe_load((d / "agent.yaml").read_text())
    assert agent["agent"]["extend"] == "default"
    assert agent["agent"]["system_prompt_path"] == "./system.md"
    assert (d / "system.md").read_text() == "Be a developer.\n"

    env = json.loads((d / "mcp.json").read_text())["mcpServers"]["tools"]["env"]
    assert env == {"LEVEL": "debug", "CAO_TERMINAL_ID": "keep-me", "KIMIBRIDGE_AGENT_ID": "dev"}

    script = (d / "launch.sh").read_text()
    for path in ("launch.sh", "mcp.json", "kimi/config.toml"):
        assert stat.S_IMODE((d / path).stat().st_mode) == 0o600
    assert KEY not in script  # the key lives only in the 0600 config
    assert "unset KIMI_BASE_URL KIMI_API_KEY KIMI_MODEL_NAME COLORTERM" in script
    assert f"export KIMI_SHARE_DIR={d / 'kimi'}" in script
    assert f"cd {ctx.project_dir}" in script
    last = script.strip().splitlines()[-1]
    assert last.startswith("exec sandbox -- ")
    assert "--yolo" in last and "--mcp-config-file" in last and "--agent-file" in last
    assert f"--work-dir {ctx.project_dir}" in last


def test_restricted_profile_no_yolo_and_tools_named_in_prompt(tmp_path: Path) -> None:
    text = "---\nname: reviewer\nallowedTools: [fs_read, fs_list]\n---\nReview.\n"
    ctx = _ctx(tmp_path, text)
    provider_for("kimi_cli").prepare(ctx)
    last = (ctx.agent_dir / "launch.sh").read_text().strip().splitlines()[-1]
    assert "--yolo" not in last and "--mcp-config-file" not in last
    prompt = (ctx.agent_dir / "system.md").read_text()
    assert prompt.startswith("You only have access to these tools: fs_read, fs_list.")


def test_mcp_env_added_without_overwriting() -> None:
    out = mcp_servers_for(
        {"a": {"command": "x"}, "b": {"command": "y", "env": {"KIMIBRIDGE_AGENT_ID": "z"}}}, "dev"
    )
    assert out["a"]["env"] == {"KIMIBRIDGE_AGENT_ID": "dev", "CAO_TERMINAL_ID": "dev"}
    assert out["b"]["env"] == {"KIMIBRIDGE_AGENT_ID": "z", "CAO_TERMINAL_ID": "dev"}


def test_reply_in_transcript() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "_system_prompt", "content": "..."},
        {"role": "user", "content": "first"},
        {
            "role": "assistant",
            "content": [{"type": "think", "think": "hmm"}, {"type": "text", "text": "One."}],
        },
        {"role": "user", "content": "second"},
        {
            "role": "assistant",
            "content": [{"type": "think", "think": "tool"}],
            "tool_calls": [{"id": "c"}],
        },
        {"role": "tool", "content": "ok", "tool_call_id": "c"},
    ]
    assert reply_in_transcript(messages, 0) == "One."
    assert reply_in_transcript(messages, 1) is None  # still running: the tool result is last
    done: list[dict[str, Any]] = [
        *messages,
        {"role": "assistant", "content": [{"type": "text", "text": "Two."}]},
    ]
    assert reply_in_transcript(done, 1) == "Two."
    assert reply_in_transcript(done, 2) is None
