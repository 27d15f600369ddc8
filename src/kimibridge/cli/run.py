"""``kimibridge run <harness> [args…]``: a coding agent in the foreground, on Kimi, in one command."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kimibridge.cli._app import command_app
from kimibridge.errors import ConfigError, KimibridgeError

if TYPE_CHECKING:
    from kimibridge.harness.contract import Launch
    from kimibridge.harness.registry import Harness

__all__ = ["RunOptions", "app", "split_options"]

HELP = """\
Run a coding agent on Kimi through the local gateway: claude, pi, opencode or kimi.

The gateway is started in the background when none is running (and reused afterwards; stop it
with `kimibridge serve --stop`). Every argument the agent does not share with kimibridge is
passed to it; after `--` everything is. The agent's exit code is kimibridge's.

\b
kimibridge's own options (anywhere before `--`):
  --offline         use the built-in Kimi emulator (no account needed)
  --model ID        the Kimi model (default: kimi-for-coding)
  --profile NAME    a separate agent config and local key per profile
  --port N          the gateway's port when one is started
  --direct          claude only: a static Kimi API key straight to Kimi, no gateway
  --tools           Kimi's search, fetch and datasources (`kimibridge mcp`) as MCP tools,
                    for this run only (not pi: it loads no MCP servers)
  --yolo, --yes, -y, --auto-approve   claude: --dangerously-skip-permissions

\b
Examples:
  kimibridge run claude
  kimibridge run claude --offline -p 'say hi'
  kimibridge run pi -- -p 'fix the tests'
"""

app = command_app()


@dataclass
class RunOptions:
    offline: bool | None = None
    model: str | None = None
    profile: str | None = None
    port: int | None = None
    direct: bool = False
    tools: bool = False
    rest: list[str] = field(default_factory=list)


_VALUED = ("--model", "--profile", "--port")


def split_options(args: Sequence[str]) -> RunOptions:
    """kimibridge's options out of the harness's arguments (everything after ``--`` is the harness's)."""
    opts = RunOptions()
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            opts.rest += args[i + 1 :]
            break
        name, eq, inline = a.partition("=")
        if a == "--offline":
            opts.offline = True
        elif a == "--direct":
            opts.direct = True
        elif a == "--tools":
            opts.tools = True
        elif name in _VALUED:
            if eq:
                values[name] = inline
            elif i + 1 < len(args):
                i += 1
                values[name] = args[i]
            else:
                raise ConfigError(f"{name} needs a value")
        else:
            opts.rest.append(a)
        i += 1
    # "kimibridge/<id>" is how pi, opencode and kimi-cli name our provider's models: same model.
    opts.model = values.get("--model", "").removeprefix("kimibridge/") or None
    opts.profile = values.get("--profile") or None
    if "--port" in values:
        try:
            opts.port = int(values["--port"])
        except ValueError:
            raise ConfigError(f"--port {values['--port']!r} is not a number") from None
    return opts


@dataclass(frozen=True)
class RunContext:
    """What a harness needs (kimibridge.harness.contract.Context)."""

    gateway_url: str
    api_key: str
    config_dir: Path
    catalog_file: Path | None
    environ: Mapping[str, str]
    model: str | None


@app.command(
    help=HELP,
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def run(
    harness: Annotated[str, typer.Argument(help="claude, pi, opencode or kimi.")],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments for the harness.")] = None,
) -> None:
    from kimibridge.harness.registry import get_harness

    environ = dict(os.environ)
    agent = get_harness(harness)
    opts = split_options(args or [])
    if opts.direct and agent.name != "claude":
        raise ConfigError("--direct is for claude only")
    if opts.tools:  # before any gateway start
        from kimibridge.harness.tool_registration import MCP_CLIENTS, no_mcp_client

        if agent.name not in MCP_CLIENTS:
            raise no_mcp_client(agent.name)
    agent.command(environ)  # a missing program: one line with its install command, before any start

    launch: Launch
    if opts.direct:
        launch = _direct(environ, opts)
        note = (
            "kimibridge: Claude Code straight to Kimi's Anthropic endpoint (--direct, no gateway)"
        )
    else:
        launch, note = _through_gateway(agent, environ, opts)
    print(note, file=sys.stderr, flush=True)
    _exec(launch)


def _through_gateway(
    agent: Harness, environ: dict[str, str], opts: RunOptions
) -> tuple[Launch, str]:
    from kimibridge.config import Paths, Settings
    from kimibridge.gateway.daemon import describe, ensure_gateway
    from kimibridge.gateway.local_auth import LocalKeys
    from kimibridge.harness.claude import ClaudeHarness

    paths = Paths.from_env(environ)
    settings = Settings.load(paths, environ=environ)
    gw = ensure_gateway(paths, settings, environ, offline=opts.offline, port=opts.port)
    if opts.offline and opts.tools:  # the MCP server answers from its own emulator too
        environ["KIMIBRIDGE_MCP_OFFLINE"] = "1"
    # The harness's own local key: the ledger and `kimibridge usage` tell the agents apart.
    label = agent.name + (f"-{opts.profile}" if opts.profile else "")
    key = LocalKeys.load_or_create(paths.config_dir).add(label)
    catalog = paths.catalog_file if paths.catalog_file.is_file() else None
    ctx = RunContext(gw.url, key, paths.config_dir, catalog, environ, opts.model)
    if isinstance(agent, ClaudeHarness):
        launch = agent.launch(ctx, opts.rest, profile=opts.profile, tools=opts.tools)
    else:
        launch = agent.launch(ctx, opts.rest, tools=opts.tools)
    return launch, describe(gw)


def _direct(environ: dict[str, str], opts: RunOptions) -> Launch:
    from kimibridge.config import Paths
    from kimibridge.harness.claude import direct_launch
    from kimibridge.kimi.credentials import CredentialStore

    paths = Paths.from_env(environ)
    try:
        login = CredentialStore(paths.credentials_file).load()
    except (KimibridgeError, OSError):  # unreadable: --direct still works with KIMI_API_KEY
        login = None
    stored = login.api_key if login is not None and login.method == "api_key" else None
    return direct_launch(
        environ,
        opts.rest,
        stored_api_key=stored,
        model=opts.model,
        profile=opts.profile,
        tools=opts.tools,
    )


def _exec(launch: Launch) -> None:
    """Become the harness: it owns the terminal, its signals and its exit code."""
    if launch.cwd is not None:
        os.chdir(launch.cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(launch.argv[0], launch.argv, launch.env)
    except OSError as exc:
        raise ConfigError(f"cannot start {launch.argv[0]}: {exc.strerror or exc}") from None
