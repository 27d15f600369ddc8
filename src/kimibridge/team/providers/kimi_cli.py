"""kimi-cli agents: launched through the gateway with their own key, in files kimibridge owns.

Per agent, under ``<agent dir>/``:

- ``kimi/`` is the agent's ``KIMI_SHARE_DIR`` (sessions, logs, device id): the user's ``~/.kimi``
  is never read or written, and the MCP tool-call timeout is raised in ``kimi/config.toml``
  (``--config-file``), which kimibridge writes, instead of in the user's config (CAO's fault).
- ``kimi/config.toml`` (0600): one provider, the gateway, with the agent's local key.
- ``agent.yaml`` extends kimi-cli's ``default`` agent with ``system_prompt_path: system.md``,
  the profile's prompt (plus the tool list when the profile restricts tools: kimi-cli cannot
  enforce one, so the model is told).
- ``mcp.json`` (0600): the profile's MCP servers, each with the agent id in its ``env``.
- ``launch.sh`` (0600): the command, run as ``/bin/sh launch.sh``.

``--yolo`` is passed when the profile allows approving tools; otherwise kimi-cli shows its
approval box and the agent waits for the user.

kimi-cli writes each session's transcript to ``kimi/sessions/*/*/context.jsonl``; the answer of a
turn is read from there when it exists (complete, no thinking, no chrome: kimi-cli 1.52 does not
draw a very tall answer block on screen at all), else from the screen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from kimibridge._fs import atomic_write, ensure_private_dir
from kimibridge.harness.kimi import OVERRIDE_VARS, kimi_command, kimi_config_toml
from kimibridge.team.mcp_entry import SERVER_NAME, agent_mcp_entry, team_tools_allowed
from kimibridge.team.providers import (
    AGENT_ID_ENV,
    CAO_TERMINAL_ID_ENV,
    LaunchContext,
    mcp_servers_for,
    write_launch_script,
)

__all__ = ["DEFAULT_MODEL", "PROVIDER", "KimiCliProvider"]

DEFAULT_MODEL: Final = "kimi-for-coding"
_INHERITED: Final = ("PATH", "HOME", "LANG", "LC_ALL", "USER")


class KimiCliProvider:
    name = "kimi_cli"
    approve_keys = ("1",)

    def prepare(self, ctx: LaunchContext) -> list[str]:
        d = ctx.agent_dir
        share = d / "kimi"
        ensure_private_dir(share)
        model = ctx.model or ctx.profile.model or DEFAULT_MODEL
        config = share / "config.toml"
        atomic_write(
            config,
            kimi_config_toml(
                base_url=ctx.gateway_url,
                api_key=ctx.api_key,
                model=model,
                # A handoff to another agent is one MCP tool call as long as that agent's
                # turn; kimi-cli's default (60 s) would cut it off (team.timeouts).
                mcp_tool_timeout_ms=ctx.timeouts.mcp_tool_timeout_ms,
            ),
        )
        atomic_write(d / "system.md", _system_prompt(ctx))
        atomic_write(
            d / "agent.yaml",
            "version: 1\nagent:\n  extend: default\n"
            f"  name: {json.dumps(ctx.profile.name)}\n"
            "  system_prompt_path: ./system.md\n",
        )
        args = ["--config-file", str(config), "--agent-file", str(d / "agent.yaml")]
        args += ["--work-dir", str(ctx.project_dir)]
        # The team server (handoff, assign, send_message) for profiles allowed to use it; a
        # profile's own entry of that name wins.
        team: dict[str, Any] = {}
        if team_tools_allowed(ctx.profile.allowed_tools):
            team[SERVER_NAME] = agent_mcp_entry(ctx.gateway_url, ctx.api_key, ctx.agent_id)
        if team or ctx.profile.mcp_servers:
            servers = mcp_servers_for({**team, **ctx.profile.mcp_servers}, ctx.agent_id)
            atomic_write(d / "mcp.json", json.dumps({"mcpServers": servers}, indent=2) + "\n")
            args += ["--mcp-config-file", str(d / "mcp.json")]
        if ctx.profile.auto_approve:
            args.append("--yolo")
        env = {k: ctx.environ[k] for k in _INHERITED if k in ctx.environ}
        env.update(
            {
                "KIMI_SHARE_DIR": str(share),
                "KIMI_CLI_NO_AUTO_UPDATE": "1",  # no update check, no "install Kimi Code" gate
                # kimi-cli >= 1.20 exits silently under tmux-256color (CAO's finding).
                "TERM": "xterm-256color",
                AGENT_ID_ENV: ctx.agent_id,
                CAO_TERMINAL_ID_ENV: ctx.agent_id,
            }
        )
        argv = [*ctx.wrap, *kimi_command(ctx.environ), *args]
        return write_launch_script(
            d / "launch.sh",
            argv=argv,
            cwd=ctx.project_dir,
            env=env,
            unset=(*OVERRIDE_VARS, "COLORTERM"),
        )

    def transcript_inputs(self, agent_dir: Path) -> int | None:
        messages = _transcript(agent_dir) or []  # none yet: the first turn creates it
        return sum(1 for m in messages if m.get("role") == "user")

    def transcript_reply(self, agent_dir: Path, after_inputs: int) -> str | None:
        messages = _transcript(agent_dir)
        if messages is None:
            return None
        return reply_in_transcript(messages, after_inputs)


def _system_prompt(ctx: LaunchContext) -> str:
    prompt = ctx.profile.prompt
    tools = ctx.profile.allowed_tools
    if ctx.profile.restricted and tools is not None:
        prompt = (
            "You only have access to these tools: "
            + ", ".join(tools)
            + ". Do not use any other tool.\n\n"
            + prompt
        )
    return prompt


def _transcript(agent_dir: Path) -> list[dict[str, Any]] | None:
    files = sorted(
        (agent_dir / "kimi" / "sessions").glob("*/*/context.jsonl"),
        key=lambda p: p.stat().st_mtime_ns,
    )
    if not files:
        return None
    try:
        text = files[-1].read_text(encoding="utf-8")
    except OSError:
        return None
    return list(_records(text))


def _records(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if isinstance(value, dict):
            yield value


def reply_in_transcript(messages: list[dict[str, Any]], after_inputs: int) -> str | None:
    """The final answer to user input number ``after_inputs + 1``: the text of the assistant's
    last message of that turn, once that message asks for no tool. None while it is running."""
    seen = 0
    turn: list[dict[str, Any]] | None = None
    for m in messages:
        role = m.get("role")
        if role == "user":
            seen += 1
            if turn is not None:
                break
            if seen == after_inputs + 1:
                turn = []
        elif turn is not None and role in ("assistant", "tool"):
            turn.append(m)
    if not turn or turn[-1].get("role") != "assistant" or turn[-1].get("tool_calls"):
        return None
    text = _text(turn[-1].get("content"))
    return text.strip() or None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


PROVIDER: Final = KimiCliProvider()
