"""Agent providers: how one harness is launched in a tmux window and how its screen is read.

A provider is a module-level object meeting ``AgentProvider``; ``provider_for(name)`` finds it in
``PROVIDERS`` (the one registry: a new harness is one module and one line here).

``prepare(ctx)`` writes every file the agent needs under ``ctx.agent_dir`` (mode 0600: they may
hold the agent's gateway key) and returns the pane command, always ``/bin/sh <launch script>``:
secrets and long argument lists never appear on a command line tmux or ``ps`` would show.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from kimibridge._fs import atomic_write
from kimibridge.errors import TeamError

if TYPE_CHECKING:
    from kimibridge.team.profiles import Profile
    from kimibridge.team.timeouts import TeamTimeouts

__all__ = [
    "AGENT_ID_ENV",
    "CAO_TERMINAL_ID_ENV",
    "PROVIDERS",
    "AgentProvider",
    "LaunchContext",
    "mcp_servers_for",
    "provider_for",
    "write_launch_script",
]

# Put into every MCP server's env (unless the profile sets it): who the calling agent is.
AGENT_ID_ENV: Final = "KIMIBRIDGE_AGENT_ID"
CAO_TERMINAL_ID_ENV: Final = "CAO_TERMINAL_ID"  # CAO-compatible MCP servers read this one

PROVIDERS: Final = {
    "kimi_cli": "kimibridge.team.providers.kimi_cli",
    "claude_code": "kimibridge.team.providers.claude_code",
}


@dataclass(frozen=True, slots=True)
class LaunchContext:
    agent_id: str
    profile: Profile
    project_dir: Path
    agent_dir: Path
    gateway_url: str  # the gateway's root URL, http://127.0.0.1:PORT
    api_key: str  # the agent's own gateway key
    environ: Mapping[str, str]  # the environment the harness inherits (PATH, HOME, ...)
    timeouts: TeamTimeouts  # the harness's MCP tool-call timeout comes from here
    model: str | None = None  # overrides the profile's model
    # Prepended to the harness argv: tests run it inside a loopback-only sandbox.
    wrap: Sequence[str] = field(default_factory=tuple)


class AgentProvider(Protocol):
    name: str
    approve_keys: tuple[str, ...]  # keys that approve a waiting tool call once

    def prepare(self, ctx: LaunchContext) -> list[str]: ...

    def transcript_reply(self, agent_dir: Path, after_inputs: int) -> str | None:
        """The answer to input number ``after_inputs + 1`` from the harness's own record of the
        session, or None (no record, or that turn has no final answer yet)."""
        ...

    def transcript_inputs(self, agent_dir: Path) -> int | None:
        """How many user inputs the harness's record holds (0 before its first turn; None: the
        harness keeps no record we can read)."""
        ...


def provider_for(name: str) -> AgentProvider:
    module = PROVIDERS.get(name)
    if module is None:
        raise TeamError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}")
    provider: AgentProvider = importlib.import_module(module).PROVIDER
    return provider


def mcp_servers_for(
    servers: Mapping[str, Mapping[str, object]], agent_id: str
) -> dict[str, dict[str, object]]:
    """The profile's MCP servers with the agent id added to each server's env; a value the
    profile already sets is kept."""
    out: dict[str, dict[str, object]] = {}
    for name, spec in servers.items():
        entry = dict(spec)
        env = dict(entry.get("env") or {})  # type: ignore[call-overload]
        env.setdefault(AGENT_ID_ENV, agent_id)
        env.setdefault(CAO_TERMINAL_ID_ENV, agent_id)
        entry["env"] = env
        out[name] = entry
    return out


def write_launch_script(
    path: Path,
    *,
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    unset: Sequence[str] = (),
) -> list[str]:
    """A 0600 ``/bin/sh`` script that sets ``env``, drops ``unset``, enters ``cwd`` and
    ``exec``s ``argv``; returns the pane command that runs it."""
    lines = [
        "#!/bin/sh",
        "# Written by kimibridge for one team agent; regenerated on every launch.",
    ]
    if unset:
        lines.append("unset " + " ".join(unset))
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines += [f"cd {shlex.quote(str(cwd))} || exit 1", "exec " + shlex.join(argv), ""]
    atomic_write(path, "\n".join(lines))
    return ["/bin/sh", str(path)]
