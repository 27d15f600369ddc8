"""``kimibridge setup <harness> --tools``: register ``kimibridge mcp`` in a harness's MCP config.

Each harness gets a stdio server entry named ``kimibridge`` that runs this Python with
``-m kimibridge mcp`` (an absolute path: harnesses start MCP servers with a minimal PATH).
MCP clients start servers with a reduced environment, so the variables that say where
kimibridge's files and Kimi are (when set at setup time) are written into the entry.

- Claude Code: ``mcpServers.kimibridge`` in ``~/.claude.json`` (``$CLAUDE_CONFIG_DIR/.claude.json``
  when that is set), the user scope ``claude mcp add --scope user`` writes;
- opencode: ``mcp.kimibridge`` (``type: local``) in the global ``opencode.json``;
- kimi-cli: ``mcpServers.kimibridge`` in ``<share>/mcp.json``, the file ``kimi mcp add`` writes;
- pi loads no MCP servers: asking for it is a one-line error.

The entry each harness reads is built by one function per harness (``claude_entry``,
``opencode_entry``, ``kimi_entry``); ``kimibridge run <harness> --tools`` passes the same entry
through the harness's own per-run mechanism instead of a file.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from kimibridge.config import ENV_HOME
from kimibridge.errors import ConfigError
from kimibridge.harness.patches import ConfigPatch
from kimibridge.tools.spec import CLIENT_TIMEOUT_MS, SERVER_NAME

__all__ = [
    "ENTRY_ENV",
    "MCP_CLIENTS",
    "claude_entry",
    "entry_env",
    "kimi_entry",
    "no_mcp_client",
    "opencode_entry",
    "server_command",
    "tool_patches",
]

# Where kimibridge's files are and which Kimi it talks to; never a credential.
ENTRY_ENV: Final = (
    ENV_HOME,
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "KIMI_CODE_BASE_URL",
    "KIMI_CODE_OAUTH_HOST",
    "KIMI_OAUTH_HOST",
    "KIMIBRIDGE_REGION",
    "KIMIBRIDGE_MCP_OFFLINE",  # `run --offline --tools`: the server answers from its emulator
)

# The harnesses that load MCP servers (pi does not).
MCP_CLIENTS: Final = ("claude", "opencode", "kimi")


def server_command() -> list[str]:
    return [sys.executable, "-m", "kimibridge", "mcp"]


def entry_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``ENTRY_ENV`` variables that are set in ``environ``."""
    return {name: environ[name] for name in ENTRY_ENV if environ.get(name)}


def claude_entry(environ: Mapping[str, str]) -> dict[str, object]:
    """Claude Code's ``mcpServers.kimibridge`` (``~/.claude.json`` or ``--mcp-config``)."""
    command, *args = server_command()
    return {"type": "stdio", "command": command, "args": args, "env": entry_env(environ)}


def opencode_entry(environ: Mapping[str, str]) -> dict[str, object]:
    """opencode's ``mcp.kimibridge`` (``opencode.json`` or ``OPENCODE_CONFIG_CONTENT``)."""
    return {
        "type": "local",
        "command": server_command(),
        "environment": entry_env(environ),
        "enabled": True,
    }


def kimi_entry(environ: Mapping[str, str]) -> dict[str, object]:
    """kimi-cli's ``mcpServers.kimibridge`` (``<share>/mcp.json`` or ``--mcp-config``)."""
    command, *args = server_command()
    return {"command": command, "args": args, "env": entry_env(environ)}


def no_mcp_client(harness: str) -> ConfigError:
    """The one line for a harness that loads no MCP servers (pi)."""
    return ConfigError(
        f"{harness} does not load MCP servers, so --tools cannot give it kimibridge's tools; "
        "`kimibridge mcp --http` serves them to any MCP client"
    )


def _home(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME")
    return Path(home) if home else Path.home()


def _claude_file(environ: Mapping[str, str]) -> Path:
    config_dir = environ.get("CLAUDE_CONFIG_DIR")
    if config_dir:
        return Path(config_dir).expanduser() / ".claude.json"
    return _home(environ) / ".claude.json"


def _kimi_mcp_file(environ: Mapping[str, str]) -> Path:
    """``mcp.json`` next to kimi-cli's ``config.toml`` (its share dir)."""
    from kimibridge.harness.kimi import user_config_file

    return user_config_file(environ).with_name("mcp.json")


def tool_patches(harness: str, environ: Mapping[str, str]) -> list[ConfigPatch]:
    """The patches that register the MCP server with ``harness`` (the server finds kimibridge's
    files through ``ENTRY_ENV``)."""
    if harness == "claude":
        key = ("mcpServers", SERVER_NAME)
        return [ConfigPatch(_claude_file(environ), "json", key, claude_entry(environ))]
    if harness == "opencode":
        from kimibridge.harness.opencode import user_config_file

        key = ("mcp", SERVER_NAME)
        return [ConfigPatch(user_config_file(environ), "json", key, opencode_entry(environ))]
    if harness == "kimi":
        key = ("mcpServers", SERVER_NAME)
        patches = [ConfigPatch(_kimi_mcp_file(environ), "json", key, kimi_entry(environ))]
        return patches + _kimi_timeout_patch(environ)
    raise no_mcp_client(harness)


def _kimi_timeout_patch(environ: Mapping[str, str]) -> list[ConfigPatch]:
    """Raise kimi-cli's MCP tool-call timeout (default 60 s) to outlast Kimi's 180 s tool
    timeout; a longer one the user set is kept."""
    import tomlkit
    import tomlkit.exceptions

    from kimibridge.harness.kimi import user_config_file

    path = user_config_file(environ)
    current: object = None
    try:
        data = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
        current = data.get("mcp", {}).get("client", {}).get("tool_call_timeout_ms")
    except (OSError, tomlkit.exceptions.ParseError, AttributeError):
        pass  # no file yet, or one setup kimi will report itself
    if isinstance(current, int) and current >= CLIENT_TIMEOUT_MS:
        return []
    key = ("mcp", "client", "tool_call_timeout_ms")
    return [ConfigPatch(path, "toml", key, CLIENT_TIMEOUT_MS)]
