"""Claude Code agents: the interactive TUI on Kimi through the gateway, in files kimibridge owns.

The environment is the one ``kimibridge run claude`` gives Claude Code (real-clients.md §1):
``ANTHROPIC_BASE_URL`` = the gateway, ``ANTHROPIC_API_KEY`` = the agent's own local key, a private
``CLAUDE_CONFIG_DIR`` (the user's ``~/.claude`` is never touched) pre-seeded so the TUI opens at
its prompt (onboarding done, this key approved, the project trusted), and no non-essential
traffic, telemetry or auto-update. The key is exported by the 0600 launch script only.

Per agent, under ``<agent dir>/``: ``claude/`` (the config dir), ``system.md`` (appended to Claude
Code's own system prompt), ``mcp.json`` (the profile's MCP servers with the agent id, used with
``--strict-mcp-config``) and ``launch.sh``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Final

from kimibridge._fs import atomic_write, ensure_private_dir
from kimibridge.errors import TeamError
from kimibridge.harness.claude import ENV_CLAUDE_BIN, QUIET, claude_config
from kimibridge.team.mcp_entry import SERVER_NAME, agent_mcp_entry, team_tools_allowed
from kimibridge.team.providers import (
    AGENT_ID_ENV,
    CAO_TERMINAL_ID_ENV,
    LaunchContext,
    mcp_servers_for,
    write_launch_script,
)

__all__ = [
    "ENV_CLAUDE_BIN",
    "PROVIDER",
    "ClaudeCodeProvider",
    "claude_config",
    "reply_in_transcript",
]

_INHERITED: Final = ("PATH", "HOME", "LANG", "LC_ALL", "USER")
# Variables that would send Claude Code elsewhere than the gateway, or with another identity.
_DROPPED: Final = (
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "COLORTERM",
)


class ClaudeCodeProvider:
    name = "claude_code"
    approve_keys = ("Enter",)  # the first choice of a permission dialog is "Yes"

    def prepare(self, ctx: LaunchContext) -> list[str]:
        d = ctx.agent_dir
        config_dir = d / "claude"
        ensure_private_dir(config_dir)
        atomic_write(
            config_dir / ".claude.json",
            json.dumps(claude_config(ctx.api_key, ctx.project_dir), indent=2) + "\n",
        )
        atomic_write(d / "system.md", ctx.profile.prompt)
        # The team server (handoff, assign, send_message) for profiles allowed to use it.
        team: dict[str, Any] = {}
        if team_tools_allowed(ctx.profile.allowed_tools):
            team[SERVER_NAME] = agent_mcp_entry(ctx.gateway_url, ctx.api_key, ctx.agent_id)
        servers = mcp_servers_for({**team, **ctx.profile.mcp_servers}, ctx.agent_id)
        atomic_write(d / "mcp.json", json.dumps({"mcpServers": servers}, indent=2) + "\n")
        args = [
            "--append-system-prompt-file",
            str(d / "system.md"),
            "--mcp-config",
            str(d / "mcp.json"),
            "--strict-mcp-config",
        ]
        model = ctx.model or ctx.profile.model
        if model:
            args += ["--model", model]
        if ctx.profile.restricted and ctx.profile.allowed_tools is not None:
            args += ["--allowedTools", ",".join(ctx.profile.allowed_tools)]
        env = {k: ctx.environ[k] for k in _INHERITED if k in ctx.environ}
        env.update(
            {
                "ANTHROPIC_BASE_URL": ctx.gateway_url,
                "ANTHROPIC_API_KEY": ctx.api_key,
                "CLAUDE_CONFIG_DIR": str(config_dir),
                **QUIET,  # what `kimibridge run claude` turns off (harness.claude)
                "TERM": "xterm-256color",
                # A handoff is one tool call as long as the worker's turn (team.timeouts).
                "MCP_TOOL_TIMEOUT": str(ctx.timeouts.mcp_tool_timeout_ms),
                AGENT_ID_ENV: ctx.agent_id,
                CAO_TERMINAL_ID_ENV: ctx.agent_id,
            }
        )
        # Refused as root unless the process says it is sandboxed; as root without it the TUI's
        # default mode still runs tools in the project without asking.
        if ctx.profile.auto_approve and os.geteuid() != 0:
            args.append("--dangerously-skip-permissions")
        argv = [*ctx.wrap, _claude_bin(ctx), *args]
        return write_launch_script(
            d / "launch.sh", argv=argv, cwd=ctx.project_dir, env=env, unset=_DROPPED
        )

    def transcript_inputs(self, agent_dir: Path) -> int | None:
        entries = _transcript(agent_dir) or []  # none yet: the first turn creates it
        return sum(1 for e in entries if _is_input(e))

    def transcript_reply(self, agent_dir: Path, after_inputs: int) -> str | None:
        entries = _transcript(agent_dir)
        if entries is None:
            return None
        return reply_in_transcript(entries, after_inputs)


def _transcript(agent_dir: Path) -> list[dict[str, Any]] | None:
    """Claude Code's session log: ``<config dir>/projects/<project slug>/<session>.jsonl``."""
    files = sorted(
        (agent_dir / "claude" / "projects").glob("*/*.jsonl"), key=lambda p: p.stat().st_mtime_ns
    )
    if not files:
        return None
    try:
        text = files[-1].read_text(encoding="utf-8")
    except OSError:
        return None
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue  # being written
        if isinstance(value, dict):
            out.append(value)
    return out


def _is_input(entry: dict[str, Any]) -> bool:
    """A prompt the user (or kimibridge) typed: not a tool result, not injected context."""
    if entry.get("type") != "user" or entry.get("isSidechain") or entry.get("isMeta"):
        return False
    content = (entry.get("message") or {}).get("content")
    if isinstance(content, str):
        return True
    return isinstance(content, list) and not any(
        isinstance(p, dict) and p.get("type") == "tool_result" for p in content
    )


def reply_in_transcript(entries: list[dict[str, Any]], after_inputs: int) -> str | None:
    """The answer to input number ``after_inputs + 1``: the text of the assistant entries that
    end its turn (``stop_reason: end_turn``) after its last tool use; None while it runs."""
    seen = 0
    turn: list[dict[str, Any]] | None = None
    for e in entries:
        if _is_input(e):
            seen += 1
            if turn is not None:
                break
            if seen == after_inputs + 1:
                turn = []
        elif (
            turn is not None and e.get("type") in ("assistant", "user") and not e.get("isSidechain")
        ):
            turn.append(e)
    if not turn:
        return None
    assistant = [e for e in turn if e.get("type") == "assistant"]
    if not assistant or (assistant[-1].get("message") or {}).get("stop_reason") != "end_turn":
        return None
    texts: list[str] = []
    for e in reversed(turn):
        message = e.get("message") or {}
        if e.get("type") != "assistant" or message.get("stop_reason") != "end_turn":
            break
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        texts[:0] = [
            str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text"
        ]
    text = "\n\n".join(t for t in texts if t.strip())
    return text.strip() or None


def _claude_bin(ctx: LaunchContext) -> str:
    explicit = ctx.environ.get(ENV_CLAUDE_BIN)
    if explicit:
        return explicit
    found = shutil.which("claude", path=ctx.environ.get("PATH"))
    if found is None:
        raise TeamError(
            "Claude Code is not installed (no `claude` on PATH); "
            "install it with `npm install -g @anthropic-ai/claude-code`"
        )
    return found


PROVIDER: Final = ClaudeCodeProvider()
