"""``kimibridge team``: agents in tmux, each a coding harness on Kimi through the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kimibridge.cli._app import command_app

if TYPE_CHECKING:
    from kimibridge.config import Paths, Settings
    from kimibridge.team.runtime import TeamRuntime
    from kimibridge.team.store import Agent

__all__ = ["app"]

HELP = """\
Teams of coding agents: each agent is a harness (kimi-cli, Claude Code) in a tmux window,
working in your project directory and talking to Kimi through the kimibridge gateway with its
own local key.

\b
  kimibridge serve &                     # the gateway (or: serve --offline)
  kimibridge team up developer           # start an agent from a profile
  kimibridge team send developer "add a test for parse()" --wait
  kimibridge team ls                     # agents, status, last activity
  kimibridge team attach developer       # watch it work (detach: C-b d)
  kimibridge team down                   # stop every agent
"""

app = command_app(
    no_args_is_help=True,
    help=HELP,
)

T = TypeVar("T")
TeamOpt = Annotated[str | None, typer.Option("--team", "-t", help="Team name [default: default].")]


def _paths() -> Paths:
    from kimibridge.config import Paths

    return Paths.from_env(os.environ)


def _runtime(paths: Paths | None = None, settings: Settings | None = None) -> TeamRuntime:
    """The runtime; with ``settings``, agents it starts get their timeouts (team.timeouts)."""
    from kimibridge.team.runtime import TeamRuntime
    from kimibridge.team.timeouts import TeamTimeouts

    timeouts = TeamTimeouts() if settings is None else TeamTimeouts.from_settings(settings)
    return TeamRuntime(paths or _paths(), os.environ, timeouts=timeouts)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _gateway_url(paths: Paths, settings: Settings, explicit: str | None) -> str:
    """The running gateway, else one started in the background (as `kimibridge run` does)."""
    from kimibridge.errors import NeedsLogin, TeamError
    from kimibridge.gateway.daemon import describe, ensure_gateway

    if explicit:
        return explicit.rstrip("/")
    environ = dict(os.environ)
    try:
        gw = ensure_gateway(paths, settings, environ)
    except NeedsLogin:
        raise TeamError(
            "no kimibridge gateway is running and none can start without a Kimi login; run "
            "`kimibridge login`, or `kimibridge serve --offline` for the built-in emulator"
        ) from None
    if gw.started:
        print(describe(gw), file=sys.stderr)
    return gw.url


def _ago(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    seconds = max(0, int(time.time() - stamp))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _print_table(table: Any) -> None:
    """A table on the terminal's width; piped or captured, never cut to 80 columns."""
    from rich.console import Console

    from kimibridge.cli._output import console

    (console if console.is_terminal else Console(width=1000)).print(table)


def _status_line(agent: Agent, detail: str = "") -> None:
    extra = f" ({detail})" if detail else ""
    print(f"{agent.id}: {agent.status}{extra}", file=sys.stderr, flush=True)


@app.command()
def up(
    profile: Annotated[str, typer.Argument(help="Profile name (`kimibridge team profiles`).")],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Agent name [default: the profile's].")
    ] = None,
    team: TeamOpt = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", "-d", help="Project directory [default: cwd].")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Kimi model, overriding the profile's.")] = None,
    gateway: Annotated[
        str | None, typer.Option(help="Gateway URL [default: the running `kimibridge serve`].")
    ] = None,
    wrap: Annotated[
        str | None,
        typer.Option(hidden=True, help="JSON list: command prefix for the harness (tests)."),
    ] = None,
) -> None:
    """Start an agent from a profile and wait until its harness is ready."""
    from kimibridge.config import Settings
    from kimibridge.errors import TeamError
    from kimibridge.team.runtime import DEFAULT_TEAM

    prefix: list[str] = []
    if wrap:
        try:
            value = json.loads(wrap)
        except ValueError:
            value = None
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise TeamError("--wrap must be a JSON list of strings")
        prefix = value
    paths = _paths()
    settings = Settings.load(paths, environ=dict(os.environ))
    rt = _runtime(paths, settings)
    url = _gateway_url(paths, settings, gateway)
    agent = _run(
        rt.up(
            profile,
            team=team or DEFAULT_TEAM,
            name=name,
            project_dir=directory or Path.cwd(),
            gateway_url=url,
            model=model,
            wrap=prefix,
        )
    )
    print(
        f"{agent.id}: {agent.status} ({agent.provider}, profile {agent.profile}, team {agent.team})"
    )


@app.command("ls")
def list_agents(team: TeamOpt = None) -> None:
    """Agents with their profile, provider, status and last activity."""
    from rich.table import Table

    rt = _runtime()

    async def refresh() -> list[Agent]:
        await rt.adopt(team)
        for agent in await rt.agents(team):
            # An agent whose status the gateway keeps from the wire is not re-read from its
            # screen here (the wire is the better witness; see team.wire_status).
            if agent.state == "running" and agent.status_source != "wire":
                await rt.poll(agent.id)
        return await rt.agents(team)

    agents = _run(refresh())
    if not agents:
        print("no agents; start one with `kimibridge team up <profile>`")
        return
    from kimibridge.team.usage import usage_by_label

    usage = usage_by_label(_paths())
    table = Table(box=None, pad_edge=False)
    columns = ("AGENT", "TEAM", "PROFILE", "PROVIDER", "STATUS", "SOURCE", "TOKENS", "CACHED")
    for column in (*columns, "LAST ACTIVITY"):
        table.add_column(column)
    for a in agents:
        status = a.status if a.state == "running" else a.state
        tokens, cached = usage.get(a.key_label, ("-", "-"))
        row = (a.id, a.team, a.profile, a.provider, status, a.status_source, tokens, cached)
        table.add_row(*row, _ago(a.last_activity))
    _print_table(table)


@app.command()
def send(
    agent_id: Annotated[str, typer.Argument(metavar="AGENT")],
    message: Annotated[str, typer.Argument(help="Text to send; - reads stdin.")],
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait and print the reply.")] = False,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait for the reply [default: no limit].")
    ] = None,
) -> None:
    """Send a message to an idle agent; with --wait, print its reply when the turn completes."""
    from kimibridge.errors import TeamError

    text = sys.stdin.read() if message == "-" else message
    rt = _runtime()

    async def go() -> Agent:
        agent = await rt.poll(agent_id)
        if agent.state != "running":
            raise TeamError(f"agent {agent.id} is {agent.state}")
        if agent.status not in ("idle", "completed"):
            raise TeamError(
                f"agent {agent.id} is {agent.status}; wait for it (`team reply {agent.id} --wait`)"
            )
        if wait:
            _status_line(agent)
        agent = await rt.send_text(agent.id, text)
        if not wait:
            return agent
        _status_line(agent)
        return await rt.wait(agent.id, within=timeout, on_change=lambda a: _status_line(a))

    agent = _run(go())
    if wait:
        _finish(agent)


def _finish(agent: Agent) -> None:
    from kimibridge.errors import TeamError

    if agent.status == "completed":
        print(agent.last_reply or "")
        return
    if agent.status == "waiting":
        raise TeamError(
            f"agent {agent.id} is waiting for an approval; answer it with `kimibridge team attach {agent.id}`"
        )
    raise TeamError(f"agent {agent.id} ended the turn with {agent.status} (state {agent.state})")


@app.command()
def reply(
    agent_id: Annotated[str, typer.Argument(metavar="AGENT")],
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Wait for the turn in progress first.")
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait.")] = None,
) -> None:
    """Print the agent's last reply (with --wait, after the turn in progress, approvals
    included)."""
    from kimibridge.errors import TeamError

    rt = _runtime()

    async def go() -> tuple[Agent, str | None]:
        await rt.adopt()
        agent = await rt.agent(agent_id)
        if wait and agent.turn_active:
            agent = await rt.wait(
                agent.id,
                within=timeout,
                on_change=lambda a: _status_line(a),
                through_approvals=True,  # the user may answer it in `team attach`
            )
            if agent.status != "completed":
                _finish(agent)
        return agent, await rt.reply(agent.id)

    _agent, text = _run(go())
    if text is None:
        raise TeamError(f"agent {agent_id} has no reply yet")
    print(text)


@app.command()
def logs(
    agent_id: Annotated[str, typer.Argument(metavar="AGENT")],
    lines: Annotated[int | None, typer.Option("--lines", "-n", help="Last N lines only.")] = None,
) -> None:
    """The agent's screen and scrollback as text."""
    print(_run(_runtime().logs(agent_id, lines=lines)))


@app.command()
def attach(agent_id: Annotated[str, typer.Argument(metavar="AGENT")]) -> None:
    """Open the agent's tmux window here (detach with C-b d)."""
    rt = _runtime()
    argv = rt.attach_argv(_run(rt.agent(agent_id)))
    os.execvp(argv[0], argv)


@app.command()
def down(
    agent_id: Annotated[str | None, typer.Argument(metavar="[AGENT]")] = None,
    team: TeamOpt = None,
) -> None:
    """Stop one agent, or every agent (of --team, else of all teams)."""
    stopped = _run(_runtime().down(agent_id, team=team))
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def inbox(
    agent_id: Annotated[str, typer.Argument(metavar="AGENT")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.")] = 50,
) -> None:
    """Messages to an agent, oldest first: pending ones and those already delivered."""
    from rich.table import Table

    from kimibridge.team.inbox import Inbox
    from kimibridge.team.store import connect

    box = Inbox(connect(_paths()))
    messages = box.messages(agent_id, limit=limit)
    if not messages:
        print(f"no messages for {agent_id}")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "FROM", "STATE", "SENT", "DELIVERED", "TEXT"):
        table.add_column(column)
    for m in messages:
        first = m.text.strip().splitlines()[0] if m.text.strip() else ""
        text = first if len(first) <= 60 else first[:59] + "…"
        table.add_row(str(m.id), m.sender, m.state, _ago(m.created_at), _ago(m.delivered_at), text)
    _print_table(table)


@app.command()
def profiles(
    directory: Annotated[
        Path | None, typer.Option("--dir", "-d", help="Project directory [default: cwd].")
    ] = None,
) -> None:
    """Agent profiles: project (.kimibridge/agents), user, built-in."""
    from rich.table import Table

    from kimibridge.team.profiles import list_profiles

    table = Table(box=None, pad_edge=False)
    for column in ("PROFILE", "PROVIDER", "FROM", "DESCRIPTION"):
        table.add_column(column)
    for p in list_profiles(directory or Path.cwd(), _paths()):
        table.add_row(p.name, p.provider, p.origin, p.description)
    _print_table(table)
