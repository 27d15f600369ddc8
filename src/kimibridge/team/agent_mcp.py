"""The MCP server agents use to work together, served by the gateway under ``/mcp/team``.

Tools: ``handoff(profile, task, timeout?)``, ``assign(profile, task)``,
``send_message(text, to?)``, ``list_agents()`` (logic in ``team.messaging``).

- Streamable HTTP on the gateway's own loopback port, stateless (no MCP session to lose when the
  gateway restarts: the harness's next call simply works).
- Who calls is the gateway key the request carries: the gateway's ``LocalAuth`` has already
  checked it and put its label in the scope, and each team agent has its own key. So an agent
  cannot speak as another, and no agent id is trusted from the request body.
- ``TeamExtension`` is what the gateway starts and stops with itself: the supervisor loop (wire
  status, inbox delivery) and this app. ``agent_mcp_entry`` is the MCP config entry a provider
  writes into each agent's harness config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from kimibridge.config import Paths, Settings
from kimibridge.errors import TeamError
from kimibridge.gateway.types import Receive, Scope, Send
from kimibridge.team.delivery import Terminal
from kimibridge.team.inbox import Inbox
from kimibridge.team.mcp_entry import MCP_PATH, SERVER_NAME, agent_mcp_entry
from kimibridge.team.store import Agent, TeamStore, connect
from kimibridge.team.timeouts import TeamTimeouts

if TYPE_CHECKING:
    from kimibridge.gateway.app import Gateway
    from kimibridge.team.messaging import TeamService
    from kimibridge.team.runtime import TeamRuntime
    from kimibridge.team.supervisor import Supervisor
    from kimibridge.team.tmux import Tmux

__all__ = ["MCP_PATH", "SERVER_NAME", "TeamExtension", "agent_mcp_entry", "build_mcp"]

log = logging.getLogger("kimibridge.team")

WRAP_ENV: Final = "KIMIBRIDGE_TEAM_WRAP"


def _label(ctx: Context[Any, Any]) -> str:
    request = ctx.request_context.request
    scope = getattr(request, "scope", None) or {}
    label = (scope.get("state") or {}).get("agent")
    if not isinstance(label, str):
        raise ToolError("unauthenticated: call with your own kimibridge key")
    return label


def _gateway_url(ctx: Context[Any, Any]) -> str:
    request = ctx.request_context.request
    scope = getattr(request, "scope", None) or {}
    server = scope.get("server")
    if not server:
        raise ToolError("cannot tell the gateway's address from this request")
    host, port = server[0], server[1]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"http://{shown}:{port}"


def build_mcp(service: TeamService) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME,
        instructions=(
            "Work with other agents of your kimibridge team: hand a task off and get the "
            "answer (handoff), start a worker in the background (assign), message an agent "
            "(send_message), see who is there (list_agents)."
        ),
        log_level="WARNING",
    )

    async def caller(ctx: Context[Any, Any]) -> Agent:
        try:
            return await service.caller(_label(ctx))
        except TeamError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    async def handoff(
        profile: str,
        task: str,
        ctx: Context[Any, Any],
        timeout: float | None = None,  # noqa: ASYNC109 - the tool's documented parameter
    ) -> str:
        """Start a new agent from `profile`, give it `task`, wait until it has finished, and
        return its final answer; the agent is stopped afterwards. `timeout` (seconds) may
        shorten the wait (at most the team's handoff timeout)."""
        me = await caller(ctx)
        try:
            result = await service.handoff(
                me, profile, task, gateway_url=_gateway_url(ctx), within=timeout
            )
        except TeamError as exc:
            raise ToolError(str(exc)) from None
        if result.status == "completed":
            return result.answer or ""
        partial = f"\nLast output: {result.answer}" if result.answer else ""
        raise ToolError(f"handoff to {result.worker} {result.status}: {result.detail}{partial}")

    @server.tool()
    async def assign(profile: str, task: str, ctx: Context[Any, Any]) -> str:
        """Start a new agent from `profile` on `task` in the background and return at once.
        It reports back to you with send_message; the report arrives as a message in your
        input when you are idle."""
        me = await caller(ctx)
        try:
            worker, message_id = await service.assign(
                me, profile, task, gateway_url=_gateway_url(ctx)
            )
        except TeamError as exc:
            raise ToolError(str(exc)) from None
        return f"assigned to {worker} (starting; the task is message #{message_id})"

    @server.tool()
    async def send_message(text: str, ctx: Context[Any, Any], to: str | None = None) -> str:
        """Send `text` to agent `to` (default: the agent that assigned you your task). It is
        delivered when the receiver is idle."""
        me = await caller(ctx)
        try:
            receiver, message_id = await service.send_message(me, text, to)
        except TeamError as exc:
            raise ToolError(str(exc)) from None
        return f"queued as message #{message_id} for {receiver}"

    @server.tool()
    async def list_agents(ctx: Context[Any, Any]) -> str:
        """The agents of your team: id, profile, status (and which one is you)."""
        me = await caller(ctx)
        return json.dumps(await service.list_agents(me), indent=1)

    return server


class TmuxTerminal:
    """``delivery.Terminal`` over kimibridge's tmux server (named buffers)."""

    def __init__(self, tmux: Tmux) -> None:
        self.tmux = tmux

    async def load_buffer(self, name: str, text: str) -> None:
        await self.tmux.run("load-buffer", "-b", name, "-", stdin=text.encode())

    async def has_buffer(self, name: str) -> bool:
        out = await self.tmux.run("list-buffers", "-F", "#{buffer_name}", check=False)
        return name in out.split()

    async def delete_buffer(self, name: str) -> None:
        await self.tmux.run("delete-buffer", "-b", name, check=False)

    async def paste_buffer(self, name: str, target: str) -> None:
        mode = await self.tmux.run("display-message", "-p", "-t", target, "#{pane_in_mode}")
        if mode.strip() == "1":  # copy mode would swallow the keys (CAO #654)
            await self.tmux.run("send-keys", "-t", target, "-X", "cancel")
        await self.tmux.run("paste-buffer", "-d", "-p", "-b", name, "-t", target)

    async def send_enter(self, target: str) -> None:
        await self.tmux.run("send-keys", "-t", target, "Enter")


class TeamExtension:
    """The team's part of the gateway process: supervisor loop + agent MCP app at ``/mcp/team``."""

    def __init__(
        self, paths: Paths, environ: Mapping[str, str], *, wrap: Sequence[str] = ()
    ) -> None:
        self.prefix = MCP_PATH
        self.paths = paths
        self.environ = dict(environ)
        self.wrap = tuple(wrap) or _wrap_from(self.environ)
        # The handoff wait and the workers' harness timeouts, from this process's settings.
        self.timeouts = TeamTimeouts.from_settings(Settings.load(paths, environ=self.environ))
        self.supervisor: Supervisor | None = None
        self.service: TeamService | None = None
        self.runtime: TeamRuntime | None = None
        self._app: Any = None
        self._stack = contextlib.AsyncExitStack()

    async def start(self, gateway: Gateway) -> None:
        from kimibridge.team.messaging import TeamService
        from kimibridge.team.profiles import find_profile
        from kimibridge.team.runtime import TeamRuntime
        from kimibridge.team.supervisor import Supervisor
        from kimibridge.team.tmux import SUBMIT_DELAY

        timeouts = self.timeouts
        store = TeamStore(await asyncio.to_thread(connect, self.paths))
        inbox = Inbox(await asyncio.to_thread(connect, self.paths))
        runtime = TeamRuntime(self.paths, self.environ, timeouts=timeouts)
        terminal: Terminal = TmuxTerminal(runtime.tmux)
        tmux = runtime.tmux

        async def probe(agent: Agent) -> tuple[str | None, bool]:
            return await _screen_probe(tmux, agent)

        supervisor = Supervisor(gateway.events, store, inbox, terminal, screen=probe)
        supervisor.deliverer.enter_delay = SUBMIT_DELAY
        paths = self.paths

        def check_profile(name: str, project: Path) -> None:
            find_profile(name, project, paths)

        service = TeamService(
            store,
            inbox,
            supervisor,
            runtime,
            wrap=self.wrap,
            check_profile=check_profile,
            timeouts=timeouts,
        )
        server = build_mcp(service)
        self._app = server.streamable_http_app(
            streamable_http_path=MCP_PATH, stateless_http=True, json_response=False
        )
        await self._stack.enter_async_context(server.session_manager.run())
        await supervisor.start()
        self._stack.push_async_callback(supervisor.stop)
        self._stack.push_async_callback(service.aclose)
        if not _another_gateway(self.paths):
            interrupted = await _interrupt_dead_calls(runtime)
            if interrupted:
                log.info("interrupted team tool calls cut by a restart: %s", interrupted)
            orphans = await service.recover_handoffs()
            self._stack.push_async_callback(_cancel_all, orphans)
        self._stack.callback(runtime.close)
        self._stack.callback(inbox.db.close)
        self._stack.callback(store.close)
        self.supervisor, self.service, self.runtime = supervisor, service, runtime

    async def stop(self) -> None:
        await self._stack.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            raise TeamError("the team service is not started")
        await self._app(scope, receive, send)


async def _screen_probe(tmux: Tmux, agent: Agent) -> tuple[str | None, bool]:
    """The visible screen's verdict and whether the harness still runs (two tmux calls)."""
    from kimibridge.team.screens import reader_for

    target = agent.pane_id or agent.tmux_target
    try:
        dead = await tmux.run("display-message", "-p", "-t", target, "#{pane_dead}")
        if dead.strip() == "1":
            return "error", False
        capture = await tmux.run("capture-pane", "-p", "-e", "-J", "-t", target)
    except TeamError:
        return None, False
    try:
        return reader_for(agent.provider).read_status(capture).state, True
    except TeamError:
        return None, True


def _wrap_from(environ: Mapping[str, str]) -> tuple[str, ...]:
    """``KIMIBRIDGE_TEAM_WRAP`` (a JSON list): the argv prefix for every harness a handoff or
    assign starts, as ``team up --wrap`` gives it for one agent (tests: a loopback sandbox)."""
    raw = environ.get(WRAP_ENV)
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TeamError(f"{WRAP_ENV} must be a JSON list of strings")
    return tuple(value)


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


# A kimi-cli spinner line for a team tool call in progress (``⠴ Using handoff ({...})``).
_TEAM_CALL: Final = re.compile(r"\bUsing (?:handoff|assign)\b")


async def _interrupt_dead_calls(runtime: TeamRuntime) -> list[str]:
    """Interrupt (Esc) agents still shown waiting on a team tool call at startup.

    No such call survives a restart of the process that served it, and the MCP client inside
    kimi-cli (mcp 1.x) does not fail a call whose response stream ended: it would wait for its
    tool-call timeout (``team.handoff_timeout`` + 60 s). So a caller whose screen still shows
    one is interrupted, as its user would do; an orphaned handoff's answer then reaches it as a
    message."""
    interrupted: list[str] = []
    for agent in await runtime.agents():
        if agent.state != "running" or not agent.pane_id:
            continue
        try:
            status = await runtime.screen_status(agent.id)
        except TeamError:
            continue
        if status.state == "busy" and _TEAM_CALL.search(status.detail):
            await runtime.tmux.send_keys(agent.pane_id, "Escape")
            interrupted.append(agent.id)
    return interrupted


def _another_gateway(paths: Paths) -> bool:
    """Whether another live kimibridge gateway serves this home (then its calls are alive)."""
    import os

    from kimibridge.gateway.pidfile import read_pidfile

    info = read_pidfile(paths)
    return info is not None and info.get("pid") != os.getpid()
