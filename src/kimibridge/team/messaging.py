"""What agents can ask of each other: handoff, assign, send_message, list_agents.

The logic behind the agent MCP server (``team.agent_mcp`` is only its surface), in the gateway
process next to the supervisor, so a handoff waits on the worker's wire status, not its screen:

- ``handoff``: start a worker from a profile (in the caller's team and project), give it the
  task, wait until its turn is *completed* on the wire, answer with the final text of its last
  response (exact: the bytes the model sent, no screen extraction), and tear the worker down,
  also on failure or timeout (no orphaned workers).
- ``assign``: queue the task for a new worker and return at once; the worker starts in the
  background and gets the task when it shows its prompt. It reports back with ``send_message``
  (its assigner is remembered in the store).
- ``send_message``: queue a message (default receiver: whoever assigned or handed off to the
  sender); the supervisor delivers it when the receiver is idle or completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kimibridge.errors import TeamError
from kimibridge.team.inbox import Inbox
from kimibridge.team.store import Agent, TeamStore
from kimibridge.team.supervisor import AgentTrack, Supervisor
from kimibridge.team.timeouts import TeamTimeouts

__all__ = ["HandoffResult", "TeamService", "Workers"]

# How long a handoff may take to tear its worker down before answering anyway.
_TEARDOWN: float = 15.0


class Workers(Protocol):
    """What the service needs of ``team.runtime.TeamRuntime``."""

    async def up(
        self,
        profile_name: str,
        *,
        team: str = ...,
        name: str | None = ...,
        project_dir: Path,
        gateway_url: str,
        model: str | None = ...,
        wrap: Sequence[str] = ...,
        ready_timeout: float = ...,
    ) -> Agent: ...

    async def send_text(self, agent_id: str, text: str) -> Agent: ...

    async def down(self, agent_id: str | None = ..., *, team: str | None = ...) -> list[str]: ...

    async def reply(self, agent_id: str) -> str | None: ...

    async def wait(self, agent_id: str, *, within: float | None = ...) -> Agent: ...


@dataclass(frozen=True, slots=True)
class HandoffResult:
    worker: str
    status: str  # completed | error | timeout
    answer: str | None
    detail: str = ""


class TeamService:
    def __init__(
        self,
        store: TeamStore,
        inbox: Inbox,
        supervisor: Supervisor,
        workers: Workers,
        *,
        wrap: Sequence[str] = (),
        check_profile: Callable[[str, Path], object] | None = None,
        timeouts: TeamTimeouts | None = None,
    ) -> None:
        self.store = store
        self.inbox = inbox
        self.supervisor = supervisor
        self.workers = workers
        self.wrap = tuple(wrap)  # tests: run harnesses in a loopback-only sandbox
        # Raises TeamError for an unknown profile (so assign fails at once, not later).
        self.check_profile = check_profile
        # How long a handoff waits (the gateway's settings; None: the default setting).
        self.timeouts = timeouts or TeamTimeouts()
        self._reserved: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    async def caller(self, key_label: str) -> Agent:
        """The team agent behind a gateway key label."""
        agents = await asyncio.to_thread(self.store.agents)
        for agent in agents:
            if agent.key_label == key_label:
                return agent
        raise TeamError(
            f"key {key_label!r} belongs to no team agent; the team tools are for agents "
            "started with `kimibridge team up`"
        )

    # ------------------------------------------------------------------------- handoff

    async def handoff(
        self,
        caller: Agent,
        profile: str,
        task: str,
        *,
        gateway_url: str,
        within: float | None = None,
    ) -> HandoffResult:
        """``within``: the caller's limit in seconds (only shortens the team's timeout)."""
        if not task.strip():
            raise TeamError("handoff needs a task")
        wait = self.timeouts.handoff_wait(within)
        worker: Agent | None = None
        try:
            async with asyncio.timeout(wait):
                worker = await self.workers.up(
                    profile,
                    team=caller.team,
                    project_dir=Path(caller.project_dir),
                    gateway_url=gateway_url,
                    wrap=self.wrap,
                    ready_timeout=wait,
                )
                await asyncio.to_thread(self.inbox.link, worker.id, caller.id, "handoff")
                track = await self._track(worker.id)
                before = track.wire.completions
                await self.workers.send_text(worker.id, task)
                track = await self.supervisor.wait_for(worker.id, _turn_over(before))
            answer = track.wire.final_text
            if track.combined.status != "completed":
                detail = track.wire.last_error or f"the worker is {track.combined.status}"
                return HandoffResult(worker.id, "error", answer, detail)
            if not answer:
                answer = await self.workers.reply(worker.id)
            return HandoffResult(worker.id, "completed", answer)
        except TimeoutError:
            name = worker.id if worker is not None else profile
            partial = None
            if worker is not None and (t := self.supervisor.track(worker.id)) is not None:
                partial = t.wire.last_text
            return HandoffResult(
                name, "timeout", partial, f"no completed turn within {wait:.0f} s; worker stopped"
            )
        finally:
            if worker is not None:
                with contextlib.suppress(TeamError, TimeoutError):
                    async with asyncio.timeout(_TEARDOWN):
                        await self.workers.down(worker.id)
                with contextlib.suppress(TeamError):
                    await asyncio.to_thread(self.inbox.unlink, worker.id)

    async def recover_handoffs(self) -> list[asyncio.Task[None]]:
        """Handoffs a previous process was waiting on when it died: nobody waits for their
        answer any more (the caller's tool call ended with the connection), so each worker's
        answer is sent to its caller as a message once the turn ends, then the worker stops."""
        links = await asyncio.to_thread(self.inbox.links, "handoff")
        tasks: list[asyncio.Task[None]] = []
        for link in links:
            tasks.append(asyncio.ensure_future(self._finish_orphan(link.worker)))
        return tasks

    async def _finish_orphan(self, worker_id: str) -> None:
        agent = await asyncio.to_thread(self.store.agent, worker_id)
        if agent is None or agent.state not in ("starting", "running"):
            await asyncio.to_thread(self.inbox.unlink, worker_id)
            return
        try:
            agent = await self.workers.wait(worker_id, within=self.timeouts.handoff_wait(None))
            answer = await self.workers.reply(worker_id)
            outcome = answer if answer else f"(no answer: the worker is {agent.status})"
        except TeamError as exc:
            outcome = f"(no answer: {exc})"
        text = (
            f"Result of your handoff to {worker_id} (kimibridge restarted while you waited):\n"
            f"{outcome}"
        )
        if await asyncio.to_thread(self.inbox.resolve, worker_id, text) is not None:
            self.supervisor.notify()
        with contextlib.suppress(TeamError, TimeoutError):
            async with asyncio.timeout(_TEARDOWN):
                await self.workers.down(worker_id)

    async def _track(self, agent_id: str) -> AgentTrack:
        await self.supervisor.refresh()
        track = self.supervisor.track(agent_id)
        if track is None:
            raise TeamError(f"agent {agent_id} is not running")
        return track

    # -------------------------------------------------------------------------- assign

    async def assign(
        self, caller: Agent, profile: str, task: str, *, gateway_url: str
    ) -> tuple[str, int]:
        """Queue the task for a new worker and start it in the background; returns at once with
        the worker's id and the task's message id. The task is delivered when the worker shows
        its prompt; if it cannot start, the caller gets a message saying why."""
        if not task.strip():
            raise TeamError("assign needs a task")
        if self.check_profile is not None:
            await asyncio.to_thread(self.check_profile, profile, Path(caller.project_dir))
        worker_id = await self._reserve(profile)
        await asyncio.to_thread(self.inbox.link, worker_id, caller.id, "assign")
        text = (
            f"{task.strip()}\n\n(Assigned by {caller.id}. When you are done, report your result "
            "with the send_message tool; it reaches them without a `to`.)"
        )
        message = await asyncio.to_thread(self.inbox.enqueue, caller.id, worker_id, text)
        starting = asyncio.ensure_future(
            self._start_assigned(worker_id, caller, profile, gateway_url)
        )
        self._background.add(starting)
        starting.add_done_callback(self._background.discard)
        return worker_id, message.id

    async def _reserve(self, profile: str) -> str:
        """A fresh agent id for a worker of ``profile`` (kept until its row exists)."""
        taken = {a.id for a in await asyncio.to_thread(self.store.agents)} | self._reserved
        base = re.sub(r"[^a-z0-9-]+", "-", profile.lower()).strip("-")[:30] or "worker"
        while (name := f"{base}-{secrets.token_hex(2)}") in taken:
            pass
        self._reserved.add(name)
        return name

    async def _start_assigned(
        self, worker_id: str, caller: Agent, profile: str, gateway_url: str
    ) -> None:
        try:
            await self.workers.up(
                profile,
                team=caller.team,
                name=worker_id,
                project_dir=Path(caller.project_dir),
                gateway_url=gateway_url,
                wrap=self.wrap,
            )
        except Exception as exc:  # noqa: BLE001 - whatever stopped it, the assigner hears why
            await asyncio.to_thread(self.inbox.withdraw, worker_id)
            note = f"Your assign to {profile} failed: {worker_id} did not start ({exc})."
            await asyncio.to_thread(self.inbox.resolve, worker_id, note)
        finally:
            self._reserved.discard(worker_id)
        await self.supervisor.refresh()
        self.supervisor.notify()

    async def aclose(self) -> None:
        """Stop workers still starting in the background."""
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -------------------------------------------------------------------- send_message

    async def send_message(
        self, caller: Agent, text: str, to: str | None = None
    ) -> tuple[str, int]:
        receiver = to
        if not receiver:
            link = await asyncio.to_thread(self.inbox.assigner_of, caller.id)
            if link is None:
                raise TeamError("nobody assigned you a task: say who the message is `to`")
            receiver = link.assigner
        if receiver == caller.id:
            raise TeamError("that is you: name another agent (list_agents shows them)")
        if await asyncio.to_thread(self.store.agent, receiver) is None:
            raise TeamError(f"no agent named {receiver!r}; list_agents shows who there is")
        message = await asyncio.to_thread(self.inbox.enqueue, caller.id, receiver, text)
        self.supervisor.notify()
        return receiver, message.id

    # --------------------------------------------------------------------- list_agents

    async def list_agents(self, caller: Agent) -> list[dict[str, object]]:
        agents = await asyncio.to_thread(self.store.agents, caller.team)
        link = await asyncio.to_thread(self.inbox.assigner_of, caller.id)
        rows: list[dict[str, object]] = []
        for agent in agents:
            row: dict[str, object] = {
                "id": agent.id,
                "profile": agent.profile,
                "provider": agent.provider,
                "state": agent.state,
                "status": agent.status,
                "status_source": agent.status_source,
            }
            if agent.id == caller.id:
                row["you"] = True
            if link is not None and agent.id == link.assigner:
                row["assigned_you"] = True
            rows.append(row)
        return rows


def _turn_over(before: int) -> Callable[[AgentTrack], bool]:
    """The worker's turn that started after ``before`` completions is over (or cannot go on)."""

    def over(track: AgentTrack) -> bool:
        if not track.alive or track.combined.status == "error":
            return True
        return track.wire.completions > before and track.combined.status == "completed"

    return over
