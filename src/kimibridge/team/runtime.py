"""The team runtime: start agents, send them input, watch their turns, read their replies.

The store is the source of truth; this object holds no state of its own that a restart would
lose. Any kimibridge process (a ``team send --wait`` killed mid-turn, then a new ``team reply
--wait``) picks up where another left off: ``adopt`` matches the store with the live tmux windows,
and a turn's progress (sent, seen working, baselines) is read back from the agent's row.

Small public steps, so other team modules (messaging, wire status) can drive agents directly:

    rt = TeamRuntime(paths, environ)
    agent = await rt.up("developer", team="demo", project_dir=Path.cwd())
    await rt.send_text(agent.id, "fix the failing test")
    agent = await rt.wait(agent.id)              # poll until completed / error / waiting
    print(agent.last_reply)

A poll is: capture the pane, read the screen (``screens``), feed the turn tracker (``turns``)
with the provider's transcript as extra evidence, persist the verdict, answer an approval when
the profile allows it, and on completion store the reply (transcript first, screen second).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from kimibridge._fs import ensure_private_dir
from kimibridge.config import Paths
from kimibridge.errors import TeamError
from kimibridge.gateway.local_auth import LocalKeys
from kimibridge.team.profiles import find_profile
from kimibridge.team.providers import LaunchContext, provider_for
from kimibridge.team.screens import ScreenStatus, reader_for
from kimibridge.team.screens.ansi import plain
from kimibridge.team.store import Agent, Team, TeamStore
from kimibridge.team.timeouts import TeamTimeouts
from kimibridge.team.tmux import Pane, Tmux
from kimibridge.team.turns import TurnState, TurnTracker

__all__ = [
    "DEFAULT_TEAM",
    "POLL_INTERVAL",
    "READY_TIMEOUT",
    "TeamRuntime",
    "agent_dir",
    "session_name",
    "tmux_socket",
]

DEFAULT_TEAM: Final = "default"
POLL_INTERVAL: Final = 0.4  # seconds between two screen captures while waiting
READY_TIMEOUT: Final = 90.0  # a harness has this long to show its idle screen after launch
WINDOW_SIZE: Final = (200, 50)
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
T = TypeVar("T")
StatusHook = Callable[[Agent, ScreenStatus], None]


def session_name(team: str) -> str:
    return f"kb-{team}"


def tmux_socket(paths: Paths) -> str:
    """kimibridge's own tmux server, one per kimibridge home (tests get their own)."""
    digest = hashlib.sha256(str(paths.state_dir.resolve()).encode()).hexdigest()[:8]
    return f"kimibridge-{digest}"


def agent_dir(paths: Paths, team: str, agent_id: str) -> Path:
    return paths.state_dir / "team" / team / agent_id


def _check_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise TeamError(f"{kind} name {name!r}: use lowercase letters, digits and '-' (at most 40)")
    return name


class TeamRuntime:
    def __init__(
        self,
        paths: Paths,
        environ: Mapping[str, str],
        *,
        store: TeamStore | None = None,
        tmux: Tmux | None = None,
        poll_interval: float = POLL_INTERVAL,
        timeouts: TeamTimeouts | None = None,
    ) -> None:
        self.paths = paths
        self.environ = dict(environ)
        # What the agents it starts are told (harness MCP timeout); the CLI and the gateway
        # pass the one built from the user's settings, None is the default setting.
        self.timeouts = timeouts or TeamTimeouts()
        self.store = store or TeamStore.open(paths)
        self.tmux = tmux or Tmux(tmux_socket(paths))
        self.poll_interval = poll_interval
        # Per-process watch state (settle streaks); the durable part lives in the store.
        self._trackers: dict[str, TurnTracker] = {}

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def agent(self, agent_id: str) -> Agent:
        found = await self._db(self.store.agent, agent_id)
        if found is None:
            raise TeamError(f"no agent named {agent_id!r}; `kimibridge team ls` lists them")
        return found

    async def agents(self, team: str | None = None) -> list[Agent]:
        return await self._db(self.store.agents, team)

    # ------------------------------------------------------------------------------- up

    async def up(
        self,
        profile_name: str,
        *,
        team: str = DEFAULT_TEAM,
        name: str | None = None,
        project_dir: Path,
        gateway_url: str,
        model: str | None = None,
        wrap: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT,
    ) -> Agent:
        """Start an agent from a profile in the team's tmux session and wait until it is ready."""
        _check_name("team", team)
        project = await self._db(project_dir.resolve)
        if not await self._db(project.is_dir):
            raise TeamError(f"project directory {project} does not exist")
        profile = find_profile(profile_name, project, self.paths)
        provider = provider_for(profile.provider)
        await self._db(
            self.store.add_team, Team(team, session_name(team), str(project), time.time())
        )
        agent_id = await self._free_id(name or _slug(profile.name))
        label = f"team-{team}-{agent_id}"
        keys = await self._db(LocalKeys.load_or_create, self.paths.config_dir)
        api_key = await self._db(keys.add, label)
        directory = agent_dir(self.paths, team, agent_id)
        # A dir left by an earlier agent of this name holds its sessions: start clean.
        await self._db(shutil.rmtree, directory, True)
        await self._db(ensure_private_dir, directory)
        ctx = LaunchContext(
            agent_id=agent_id,
            profile=profile,
            project_dir=project,
            agent_dir=directory,
            gateway_url=gateway_url,
            api_key=api_key,
            environ=self.environ,
            timeouts=self.timeouts,
            model=model,
            wrap=tuple(wrap),
        )
        command = await self._db(provider.prepare, ctx)
        agent = Agent(
            id=agent_id,
            team=team,
            profile=profile.name,
            provider=profile.provider,
            tmux_target=f"{session_name(team)}:{agent_id}",
            key_label=label,
            project_dir=str(project),
            agent_dir=str(directory),
            auto_approve=profile.auto_approve,
            created_at=time.time(),
        )
        await self._db(self.store.add_agent, agent)
        try:
            width, height = WINDOW_SIZE
            pane = await self.tmux.new_window(
                session_name(team), agent_id, command, cwd=str(project), width=width, height=height
            )
        except TeamError:
            await self._db(self.store.remove_agent, agent_id)
            raise
        agent = await self._update(
            agent_id, pane_id=pane.pane_id, pid=pane.pid, state="running", last_activity=time.time()
        )
        try:
            async with asyncio.timeout(ready_timeout):
                return await self._until_ready(agent)
        except TimeoutError:
            tail = await self._tail(agent)
            raise TeamError(
                f"agent {agent.id} did not become ready in {ready_timeout:.0f} s: {tail}"
            ) from None

    async def _free_id(self, base: str) -> str:
        _check_name("agent", base)
        taken = {a.id for a in await self.agents()}
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    async def _until_ready(self, agent: Agent) -> Agent:
        while True:
            agent = await self.poll(agent.id)
            if agent.state == "gone":
                tail = await self._tail(agent)
                raise TeamError(f"agent {agent.id} exited while starting: {tail}")
            if agent.status in ("idle", "completed"):
                return agent
            await asyncio.sleep(self.poll_interval)

    async def _tail(self, agent: Agent) -> str:
        if not agent.pane_id:
            return "no pane"
        try:
            text = plain(await self.tmux.capture(agent.pane_id, history=200))
        except TeamError as exc:
            return str(exc)
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return " | ".join(lines[-3:]) or "(empty screen)"

    # ------------------------------------------------------------------------ adoption

    async def adopt(self, team: str | None = None) -> list[Agent]:
        """Match the store with tmux: re-adopt live windows (new pane ids included), mark
        windows that vanished ``gone`` and panes whose harness exited ``gone``/error."""
        agents = [a for a in await self.agents(team) if a.state in ("starting", "running")]
        sessions: dict[str, dict[str, Pane]] = {}
        out: list[Agent] = []
        for agent in agents:
            session = session_name(agent.team)
            if session not in sessions:
                sessions[session] = {p.window: p for p in await self.tmux.panes(session)}
            pane = sessions[session].get(agent.id)
            if pane is None or pane.dead:
                agent = await self._update(
                    agent.id,
                    state="gone",
                    status="error",
                    status_source="screen",
                    turn_active=False,
                )
            elif pane.pane_id != agent.pane_id or agent.state != "running":
                agent = await self._update(
                    agent.id, pane_id=pane.pane_id, pid=pane.pid, state="running"
                )
            out.append(agent)
        return out

    # ------------------------------------------------------------------- sending input

    async def screen(self, agent: Agent) -> tuple[str, ScreenStatus]:
        """The pane's capture (whole history) and what it shows."""
        if not agent.pane_id:
            raise TeamError(f"agent {agent.id} has no tmux pane")
        capture = await self.tmux.capture(agent.pane_id)
        return capture, reader_for(agent.provider).read_status(capture)

    async def screen_status(self, agent_id: str) -> ScreenStatus:
        _capture, status = await self.screen(await self.agent(agent_id))
        return status

    async def send_text(self, agent_id: str, text: str) -> Agent:
        """Paste ``text`` into the agent's harness and submit it: a new turn begins.

        The caller decides whether the agent may take input now (``team send`` requires idle or
        completed; a message queue waits for it)."""
        agent = await self.agent(agent_id)
        if agent.state != "running" or not agent.pane_id:
            raise TeamError(f"agent {agent.id} is {agent.state}; start a new one with `team up`")
        if not text.strip():
            raise TeamError("the message is empty")
        _capture, before = await self.screen(agent)
        provider = provider_for(agent.provider)
        inputs = await self._db(provider.transcript_inputs, Path(agent.agent_dir))
        await self.tmux.paste(agent.pane_id, text)
        agent = await self._db(
            self.store.begin_turn,
            agent.id,
            echo_baseline=before.turns,
            transcript_baseline=inputs,
        )
        tracker = TurnTracker()
        tracker.sent(before.turns)
        self._trackers[agent.id] = tracker
        return agent

    # ------------------------------------------------------------------------- watching

    def _tracker(self, agent: Agent) -> TurnTracker:
        tracker = self._trackers.get(agent.id)
        if tracker is None:  # a turn another process started, or none at all
            tracker = TurnTracker(
                TurnState(
                    status=agent.status,
                    active=agent.turn_active,
                    seen_busy=agent.turn_seen_busy,
                    baseline=agent.echo_baseline,
                )
            )
            self._trackers[agent.id] = tracker
        return tracker

    async def poll(self, agent_id: str, on_status: StatusHook | None = None) -> Agent:
        """One observation of the agent; persists and returns the new state."""
        agent = await self.agent(agent_id)
        if agent.state not in ("starting", "running"):
            return agent
        agent = await self._refresh_pane(agent)
        if agent.state == "gone":
            return agent
        capture, snap = await self.screen(agent)
        if on_status is not None:
            on_status(agent, snap)
        provider = provider_for(agent.provider)
        reply: str | None = None
        if agent.turn_active and agent.transcript_baseline is not None:
            reply = await self._db(
                provider.transcript_reply, Path(agent.agent_dir), agent.transcript_baseline
            )
        tracker = self._tracker(agent)
        was_active = tracker.state.active
        state = tracker.observe(snap, fingerprint=capture, evidence=reply is not None)
        changes: dict[str, Any] = {}
        if _screen_speaks(agent, state.status) and (
            state.status != agent.status or agent.status_source != "screen"
        ):
            changes["status"] = state.status
            changes["status_source"] = "screen"
            changes["last_activity"] = time.time()
        if state.seen_busy != agent.turn_seen_busy:
            changes["turn_seen_busy"] = state.seen_busy
        if state.active != agent.turn_active:
            changes["turn_active"] = state.active
        if was_active and not state.active and state.status == "completed":
            if reply is None:
                reply = reader_for(agent.provider).extract_reply(capture)
            # The wire's answer (the exact text the model sent), when the supervisor stored it.
            if agent.status_source != "wire" or agent.last_reply is None:
                changes["last_reply"] = reply
        if snap.state == "waiting" and agent.auto_approve and provider.approve_keys:
            await self.tmux.send_keys(agent.pane_id or "", *provider.approve_keys)
        if changes:
            agent = await self._update(agent.id, **changes)
        return agent

    async def _refresh_pane(self, agent: Agent) -> Agent:
        panes = {p.window: p for p in await self.tmux.panes(session_name(agent.team))}
        pane = panes.get(agent.id)
        if pane is None or pane.dead:
            return await self._update(
                agent.id, state="gone", status="error", status_source="screen", turn_active=False
            )
        if pane.pane_id != agent.pane_id or agent.state != "running":
            return await self._update(agent.id, pane_id=pane.pane_id, pid=pane.pid, state="running")
        return agent

    async def wait(
        self,
        agent_id: str,
        *,
        within: float | None = None,
        on_status: StatusHook | None = None,
        on_change: Callable[[Agent], Awaitable[None] | None] | None = None,
        through_approvals: bool = False,
    ) -> Agent:
        """Poll until the turn in progress ends: ``completed``, ``error``, the agent is gone, or
        it waits for an approval it may not answer itself (unless ``through_approvals``: then
        keep waiting for the user to answer it). Without a turn in progress, returns at once.
        After ``within`` seconds, ``TeamError``."""
        try:
            async with asyncio.timeout(within):
                return await self._watch(agent_id, on_status, on_change, through_approvals)
        except TimeoutError:
            agent = await self.agent(agent_id)
            raise TeamError(
                f"agent {agent.id} is still {agent.status} after {within:.0f} s"
            ) from None

    async def _watch(
        self,
        agent_id: str,
        on_status: StatusHook | None,
        on_change: Callable[[Agent], Awaitable[None] | None] | None,
        through_approvals: bool,
    ) -> Agent:
        last: str | None = None
        while True:
            agent = await self.poll(agent_id, on_status)
            if agent.status != last:
                last = agent.status
                if on_change is not None:
                    result = on_change(agent)
                    if result is not None:
                        await result
            if agent.state == "gone" or not agent.turn_active:
                return agent
            if agent.status == "error":
                return agent
            if agent.status == "waiting" and not (agent.auto_approve or through_approvals):
                return agent
            await asyncio.sleep(self.poll_interval)

    async def reply(self, agent_id: str) -> str | None:
        """The last completed turn's answer (stored), else what the screen shows now."""
        agent = await self.agent(agent_id)
        if agent.last_reply is not None:
            return agent.last_reply
        if agent.state != "running":
            return None
        capture, _snap = await self.screen(agent)
        return reader_for(agent.provider).extract_reply(capture)

    async def logs(self, agent_id: str, *, lines: int | None = None) -> str:
        """The agent's screen and scrollback as plain text."""
        agent = await self.agent(agent_id)
        if agent.state != "running" or not agent.pane_id:
            raise TeamError(f"agent {agent.id} is {agent.state}: no screen to show")
        text = plain(await self.tmux.capture(agent.pane_id)).rstrip("\n")
        rows = text.split("\n")
        return "\n".join(rows if lines is None else rows[-lines:])

    def attach_argv(self, agent: Agent) -> list[str]:
        return self.tmux.attach_argv(session_name(agent.team), agent.id)

    # ---------------------------------------------------------------------------- down

    async def down(self, agent_id: str | None = None, *, team: str | None = None) -> list[str]:
        """Stop one agent, or every agent of ``team`` (all teams when None); forget them and
        revoke their gateway keys. Returns the ids stopped."""
        if agent_id is not None:
            targets = [await self.agent(agent_id)]
        else:
            targets = await self.agents(team)
        keys = await self._db(LocalKeys.load_or_create, self.paths.config_dir)
        for agent in targets:
            if agent.pane_id:
                await self.tmux.kill_window(agent.pane_id)
            await self._db(keys.remove, agent.key_label)
            await self._db(self.store.remove_agent, agent.id)
            self._trackers.pop(agent.id, None)
        for t in {a.team for a in targets}:
            if not await self.agents(t):
                await self.tmux.kill_session(session_name(t))
                await self._db(self.store.remove_team, t)
        if targets and not await self.agents():
            await self.tmux.kill_server()  # no agent left: no server (and no stale socket)
        return [a.id for a in targets]

    async def _update(self, agent_id: str, **changes: Any) -> Agent:
        return await self._db(self.store.update_agent, agent_id, **changes)

    def close(self) -> None:
        self.store.close()


def _screen_speaks(agent: Agent, screen: str) -> bool:
    """Whether a screen poll's verdict is stored. While the wire knows the agent (the gateway's
    supervisor stored its status with source ``wire``), the screen adds only what the wire
    cannot see (``wire_status.combine``): an approval prompt, an error while the wire is not
    busy. A dead pane is the screen's too (``_refresh_pane``)."""
    if agent.status_source != "wire":
        return True
    return screen == "waiting" or (screen == "error" and agent.status != "busy")


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return slug[:40] or "agent"
