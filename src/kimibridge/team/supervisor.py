"""The supervisor loop: every team agent's status from the wire, and inbox delivery.

It runs inside the gateway process (``attach``), which already sees every agent's turn events
in-process: no second daemon, no event stream over HTTP that could stall. It

- feeds each agent's events to a ``WireStatus`` (agents are known by their key label, from the
  team store, re-read every ``tick``);
- takes the screen as second witness only where the wire cannot answer: an agent the wire has
  not seen (e.g. right after a restart), an approval prompt, a dead pane;
- writes the combined status (and the final answer of a completed turn) to the store, where
  ``team ls`` reads it;
- delivers inbox messages to a receiver that is idle or has completed, and only once it has
  completed the turn the previous delivery started (one batch in flight per receiver);
- wakes on an event, on a status deadline (the settle time), on ``notify()`` (a new message),
  and every ``tick`` seconds (a sweep: nothing stays pending because a wake-up was missed).

Killing the process loses nothing: the inbox is in SQLite and ``Deliverer.recover`` settles a
batch a killed loop left half-delivered (``team.delivery``). Wire status is rebuilt from the
next events; until then the screen speaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from kimibridge.errors import TeamError
from kimibridge.gateway.events import EventBus, Subscription, TurnEvent
from kimibridge.team.delivery import Deliverer, Terminal
from kimibridge.team.inbox import Inbox
from kimibridge.team.store import Agent, TeamStore
from kimibridge.team.wire_status import (
    DEFAULT_RETRY_GRACE,
    DEFAULT_SETTLE,
    Combined,
    WireStatus,
    combine,
)

__all__ = ["AgentTrack", "ScreenProbe", "Supervisor"]

log = logging.getLogger("kimibridge.team")

TICK: Final = 1.0
# After a delivery, the receiver should start a request within this time; if the wire shows
# none (a harness that does not go through the gateway), the screen decides readiness again.
REACTION_TIMEOUT: Final = 15.0
# An agent whose last turn failed (its harness alive, back at its prompt) takes input too;
# a dead harness is never ready (``alive``).
READY: Final = frozenset({"idle", "completed", "error"})
# Screens that show a prompt taking input (a failed turn leaves its error above the prompt).
PROMPT_READY: Final = frozenset({"idle", "error"})
SCREEN_RETRY: Final = 0.1  # look at a screen still finishing a turn again this soon
NUDGE_AFTER: Final = 4.0  # no request this long after a paste: its Enter was lost
MAX_NUDGES: Final = 2

# The screen's verdict for an agent (``idle``/``busy``/``waiting``/``error``/``unknown``), and
# whether its harness still runs; None when it cannot be read.
ScreenProbe = Callable[[Agent], Awaitable[tuple[str | None, bool]]]


@dataclass(slots=True)
class AgentTrack:
    """What the loop keeps per agent besides the store row."""

    agent: Agent
    wire: WireStatus
    combined: Combined = field(default_factory=lambda: Combined("unknown", "screen"))
    screen: str | None = None
    alive: bool = True
    screen_at: float = float("-inf")
    stored: int = 0  # wire completions whose reply is in the store
    nudges: int = 0  # Enters re-sent for the last batch
    delivered_requests: int | None = None  # wire.requests when our last batch was pasted
    delivered_completions: int = 0
    delivered_at: float = 0.0


class Supervisor:
    def __init__(
        self,
        bus: EventBus,
        store: TeamStore,
        inbox: Inbox,
        terminal: Terminal,
        *,
        screen: ScreenProbe | None = None,
        clock: Callable[[], float] = time.time,
        settle: float = DEFAULT_SETTLE,
        retry_grace: float = DEFAULT_RETRY_GRACE,
        tick: float = TICK,
    ) -> None:
        self.bus = bus
        self.store = store
        self.inbox = inbox
        self.terminal = terminal
        self.screen = screen
        self.clock = clock
        self.settle = settle
        self.retry_grace = retry_grace
        self.tick = tick
        self.tracks: dict[str, AgentTrack] = {}  # by agent id
        self._by_label: dict[str, str] = {}  # key label -> agent id
        self.deliverer = Deliverer(inbox, terminal, self._target)
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._retry_at: float | None = None
        # Called (on the loop, must not block) whenever an agent's combined status changes:
        # benchmarks time completions with it.
        self.observers: list[Callable[[AgentTrack], None]] = []

    # ---------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await self.refresh()
        await self.deliverer.recover()
        self._task = asyncio.ensure_future(self._run())
        if self.screen is not None:
            self._probe_task = asyncio.ensure_future(self._probe_loop())

    async def stop(self) -> None:
        for task in (self._task, self._probe_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._probe_task = None
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    def notify(self) -> None:
        """Something changed outside the event stream (a message was queued)."""
        self._wake.set()

    async def _run(self) -> None:
        next_refresh = 0.0
        while True:
            try:
                now = self.clock()
                if now >= next_refresh:
                    await self.refresh()
                    next_refresh = now + self.tick
                await self._drain()
                await self.evaluate()
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("team supervisor round failed")
            await self._sleep()

    async def _sleep(self) -> None:
        """Until an event, a wake-up, the nearest status deadline or the next tick."""
        now = self.clock()
        deadlines = [d for t in self.tracks.values() if (d := t.wire.deadline()) is not None]
        if self._retry_at is not None:
            deadlines.append(self._retry_at)
            self._retry_at = None
        timeout = min([self.tick, *(max(0.0, d - now) for d in deadlines)])
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait())]
        if self._sub is not None:
            waiters.append(asyncio.ensure_future(self._sub.queue.get()))
        done, pending = await asyncio.wait(
            waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for fut in pending:
            fut.cancel()
        for fut in done:
            result = fut.result()
            if isinstance(result, TurnEvent):
                self.feed(result)
        self._wake.clear()

    async def _drain(self) -> None:
        if self._sub is None:
            return
        while not self._sub.queue.empty():
            self.feed(self._sub.queue.get_nowait())

    # ---------------------------------------------------------------------------- agents

    async def refresh(self) -> None:
        """Re-read the team's agents from the store (``team up``/``down`` run elsewhere)."""
        agents = await asyncio.to_thread(self.store.agents)
        live = {a.id: a for a in agents if a.state in ("starting", "running")}
        for agent_id in set(self.tracks) - set(live):
            del self.tracks[agent_id]
        for agent in live.values():
            track = self.tracks.get(agent.id)
            if track is None:
                self.tracks[agent.id] = AgentTrack(
                    agent, WireStatus(settle=self.settle, retry_grace=self.retry_grace)
                )
            else:
                track.agent = agent
        self._by_label = {t.agent.key_label: a for a, t in self.tracks.items()}
        # Subscribe only while there are agents: a subscriber makes every request carry its
        # final text, which costs the plain gateway user something for nothing.
        if self.tracks and self._sub is None:
            self._sub = self.bus.subscribe(None, maxsize=100_000)
        elif not self.tracks and self._sub is not None:
            self._sub.close()
            self._sub = None

    def track(self, agent_id: str) -> AgentTrack | None:
        return self.tracks.get(agent_id)

    def _target(self, agent_id: str) -> str | None:
        track = self.tracks.get(agent_id)
        if track is None or not track.alive:
            return None
        return track.agent.pane_id or track.agent.tmux_target

    # ---------------------------------------------------------------------------- status

    def feed(self, event: TurnEvent) -> None:
        agent_id = self._by_label.get(event.agent)
        if agent_id is not None:
            self.tracks[agent_id].wire.feed(event)

    async def evaluate(self) -> None:
        """Combine wire and screen for every agent; store what changed; wake waiters."""
        now = self.clock()
        changed = False
        for track in list(self.tracks.values()):
            wire = track.wire.status(now)
            combined = combine(wire, track.screen, harness_alive=track.alive)
            # A completion not stored yet (the status may read "completed" already, from the
            # previous turn); a reply is written once per completion, so a new turn's cleared
            # reply is never filled with the last one's.
            fresh = combined.status == "completed" and track.wire.completions > track.stored
            if combined != track.combined or fresh:
                track.combined = combined
                changed = True
                for observer in self.observers:
                    observer(track)
                await self._store_status(track, with_reply=fresh)
                if fresh:
                    track.stored = track.wire.completions
        if changed:
            async with self._changed:
                self._changed.notify_all()

    async def probe_screens(self) -> None:
        """Read every agent's screen once (the screen only adds approvals, dead panes and
        agents the wire has not seen). Its own task, once a tick: tmux subprocesses never delay
        what the wire says."""
        if self.screen is None:
            return
        for track in list(self.tracks.values()):
            track.screen, track.alive = await self.screen(track.agent)
            track.screen_at = self.clock()

    async def _probe_loop(self) -> None:
        while True:
            try:
                await self.probe_screens()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed capture must not end the probing
                log.exception("team screen probe failed")
            self._wake.set()
            await asyncio.sleep(self.tick)

    async def _store_status(self, track: AgentTrack, *, with_reply: bool) -> None:
        changes: dict[str, object] = {
            "status": track.combined.status,
            "status_source": track.combined.source,
        }
        if track.wire.last_event_at is not None:
            changes["last_activity"] = track.wire.last_event_at
        if with_reply and track.wire.final_text is not None:
            changes["last_reply"] = track.wire.final_text
        with contextlib.suppress(TeamError):  # removed meanwhile; the next refresh drops it
            track.agent = await asyncio.to_thread(
                self.store.update_agent, track.agent.id, **changes
            )

    async def wait_for(self, agent_id: str, predicate: Callable[[AgentTrack], bool]) -> AgentTrack:
        """Wait until ``predicate(track)`` holds (checked after every evaluation); bound it
        with ``asyncio.timeout``."""

        def check() -> bool:
            track = self.tracks.get(agent_id)
            return track is not None and predicate(track)

        async with self._changed:
            await self._changed.wait_for(check)
        return self.tracks[agent_id]

    # ---------------------------------------------------------------------------- delivery

    def ready(self, track: AgentTrack, now: float) -> bool:
        """Whether ``track``'s agent may get its next batch now."""
        if not track.alive or track.combined.status not in READY:
            return False
        if track.delivered_requests is None:
            return True
        wire = track.wire
        if wire.completions > track.delivered_completions:
            return True  # it finished the turn our last batch started
        if (
            wire.requests == track.delivered_requests
            and now - track.delivered_at > REACTION_TIMEOUT
        ):
            return track.combined.source == "screen" or track.screen in READY
        return False

    async def deliver_due(self) -> None:
        pending = set(await asyncio.to_thread(self.inbox.receivers_pending))
        now = self.clock()
        for agent_id in pending:
            track = self.tracks.get(agent_id)
            if track is None or not self.ready(track, now):
                continue
            if not await self._prompt_ready(track):
                # The wire says the turn is over; the harness may still be finishing it on
                # screen (a pasted Enter would be lost then). Look again shortly.
                self._retry_at = now + SCREEN_RETRY
                continue
            try:
                done = await self.deliverer.deliver(agent_id)
            except TeamError as exc:
                log.warning("delivery to %s failed: %s", agent_id, exc)
                continue
            if done:
                track.delivered_requests = track.wire.requests
                track.delivered_completions = track.wire.completions
                track.delivered_at = self.clock()
                track.nudges = 0
                # Busy until the wire (or the screen) says otherwise: no second batch before
                # the receiver has even seen the first.
                track.combined = Combined("busy", track.combined.source)
        await self._unstick(now)

    async def _prompt_ready(self, track: AgentTrack) -> bool:
        """A fresh look at the receiver's screen: its prompt is there to take the paste."""
        if self.screen is None:
            return True
        track.screen, track.alive = await self.screen(track.agent)
        track.screen_at = self.clock()
        return track.alive and track.screen in PROMPT_READY

    async def _unstick(self, now: float) -> None:
        """A batch was pasted but the receiver never sent a request for it: its Enter was
        swallowed (the harness was still drawing, or in a mode that took the key). Send Enter
        again, at most ``MAX_NUDGES`` times, and only when its prompt is idle (an Enter on an
        empty prompt does nothing)."""
        for track in list(self.tracks.values()):
            if (
                track.delivered_requests is None
                or track.wire.requests != track.delivered_requests
                or track.nudges >= MAX_NUDGES
                or now - track.delivered_at < NUDGE_AFTER
            ):
                continue
            target = self._target(track.agent.id)
            if target is None or not await self._prompt_ready(track):
                continue
            log.info("re-sending Enter to %s: no request followed its messages", track.agent.id)
            track.nudges += 1
            track.delivered_at = self.clock()
            with contextlib.suppress(TeamError):
                await self.terminal.send_enter(target)
