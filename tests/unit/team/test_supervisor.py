"""The supervisor: wire status per agent into the store, and delivery only to a ready receiver.

Driven step by step with a fake clock (refresh / feed / evaluate / deliver_due), plus one run of
the real loop."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from kimibridge.config import Paths
from kimibridge.gateway.events import EventBus, EventKind, TurnEvent
from kimibridge.team.inbox import Inbox
from kimibridge.team.store import Agent, Team, TeamStore, connect
from kimibridge.team.supervisor import Supervisor
from tests.unit.team.model_tmux import ModelTmux


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _setup(tmp_path: Path) -> tuple[TeamStore, Inbox]:
    paths = Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")
    store = TeamStore(connect(paths))
    store.add_team(Team("t", "kb-t", "/p", 1.0))
    for name in ("sup", "w1"):
        store.add_agent(
            Agent(
                id=name,
                team="t",
                profile="developer",
                provider="kimi_cli",
                tmux_target=f"kb-t:{name}",
                key_label=f"team-t-{name}",
                project_dir="/p",
                agent_dir="/a",
                state="running",
                pane_id=f"%{name}",
                created_at=1.0,
            )
        )
    return store, Inbox(connect(paths))


def _event(
    kind: EventKind,
    agent: str,
    rid: str,
    t: float,
    stop: str | None = None,
    text: str | None = None,
) -> TurnEvent:
    return TurnEvent(kind, f"team-t-{agent}", rid, "m", "openai", t, True, stop, text)


def _ids(tmux: ModelTmux, target: str) -> list[int]:
    text = "\n".join(tmux.submitted.get(target, []))
    return [int(n) for n in re.findall(r"\[message #(\d+) from", text)]


async def test_messages_wait_for_a_completed_receiver_and_arrive_once_in_order(
    tmp_path: Path,
) -> None:
    store, inbox = _setup(tmp_path)
    bus, clock, tmux = EventBus(), Clock(), ModelTmux()
    sup = Supervisor(bus, store, inbox, tmux, clock=clock)
    sup.deliverer.enter_delay = 0

    async def step(dt: float = 0.0) -> None:
        clock.now += dt
        await sup._drain()
        await sup.evaluate()
        await sup.deliver_due()

    await sup.refresh()
    assert bus.subscribers == 1
    bus.publish(_event("request_started", "w1", "r1", clock.now))
    await step()
    assert store.agent("w1").status == "busy"  # type: ignore[union-attr]
    assert store.agent("w1").status_source == "wire"  # type: ignore[union-attr]
    sent = [inbox.enqueue("sup", "w1", f"note {i}").id for i in range(20)]
    await step(1.0)
    assert tmux.submitted == {}  # busy: nothing delivered
    bus.publish(_event("response_finished", "w1", "r1", clock.now, "tool_use", ""))
    await step(5.0)
    assert tmux.submitted == {}  # a tool runs
    bus.publish(_event("request_started", "w1", "r2", clock.now))
    bus.publish(_event("response_finished", "w1", "r2", clock.now + 0.5, "end_turn", "done!"))
    await step(0.55)
    assert tmux.submitted == {}  # settling
    await step(0.2)
    agent = store.agent("w1")
    assert agent is not None
    assert (agent.status, agent.last_reply) == ("completed", "done!")
    assert _ids(tmux, "%w1") == sent  # all twenty, in order, in one paste
    store.begin_turn("w1")  # a new turn clears the reply; the old completion must not refill it
    await sup.refresh()
    await step(0.5)
    assert store.agent("w1").last_reply is None  # type: ignore[union-attr]
    later = inbox.enqueue("sup", "w1", "one more").id
    await step(1.0)
    assert _ids(tmux, "%w1") == sent  # not before the receiver finished the batch's turn
    bus.publish(_event("request_started", "w1", "r3", clock.now))
    bus.publish(_event("response_finished", "w1", "r3", clock.now + 1, "end_turn", "read them"))
    await step(1.0)
    await step(1.0)
    assert _ids(tmux, "%w1") == [*sent, later]
    assert [m.state for m in inbox.messages("w1")] == ["delivered"] * 21


async def test_screen_decides_where_the_wire_is_silent(tmp_path: Path) -> None:
    store, inbox = _setup(tmp_path)
    bus, clock, tmux = EventBus(), Clock(), ModelTmux()
    screens = {"sup": ("idle", True), "w1": ("waiting", True)}

    async def probe(agent: Agent) -> tuple[str | None, bool]:
        return screens[agent.id]

    sup = Supervisor(bus, store, inbox, tmux, clock=clock, screen=probe)
    sup.deliverer.enter_delay = 0
    await sup.refresh()
    inbox.enqueue("w1", "sup", "hello sup")
    inbox.enqueue("sup", "w1", "hello w1")
    await sup.probe_screens()
    await sup.evaluate()
    await sup.deliver_due()
    assert (store.agent("sup").status, store.agent("sup").status_source) == ("idle", "screen")  # type: ignore[union-attr]
    assert store.agent("w1").status == "waiting"  # type: ignore[union-attr]
    assert _ids(tmux, "%sup") == [1]
    assert _ids(tmux, "%w1") == []  # an approval prompt is not a place to paste into
    screens["w1"] = ("busy", False)  # the harness died
    await sup.probe_screens()
    await sup.evaluate()
    assert store.agent("w1").status == "error"  # type: ignore[union-attr]


async def test_the_loop_wakes_on_events_and_waiters_see_the_answer(tmp_path: Path) -> None:
    store, inbox = _setup(tmp_path)
    bus = EventBus()
    sup = Supervisor(bus, store, inbox, ModelTmux(), settle=0.05, tick=0.2)
    await sup.start()
    try:
        before = sup.tracks["w1"].wire.completions
        t = time.time()  # the gateway stamps events with the wall clock
        bus.publish(_event("request_started", "w1", "r1", t))
        bus.publish(_event("response_finished", "w1", "r1", t, "end_turn", "exact answer"))
        async with asyncio.timeout(10):
            track = await sup.wait_for(
                "w1", lambda tr: tr.wire.completions > before and tr.combined.status == "completed"
            )
        assert track.wire.final_text == "exact answer"
    finally:
        await sup.stop()
    assert bus.subscribers == 0


async def test_waits_for_the_prompt_and_re_sends_a_swallowed_enter(tmp_path: Path) -> None:
    store, inbox = _setup(tmp_path)
    bus, clock = EventBus(), Clock()
    swallow = {"left": 1}

    class SwallowingTmux(ModelTmux):
        async def send_enter(self, target: str) -> None:
            if swallow["left"]:
                swallow["left"] -= 1  # the harness was still drawing: the key is lost
                return
            await super().send_enter(target)

    tmux = SwallowingTmux()
    screens = {"sup": ("idle", True), "w1": ("busy", True)}

    async def probe(agent: Agent) -> tuple[str | None, bool]:
        return screens[agent.id]

    sup = Supervisor(bus, store, inbox, tmux, clock=clock, screen=probe)
    sup.deliverer.enter_delay = 0

    async def step(dt: float = 0.0) -> None:
        clock.now += dt
        await sup._drain()
        await sup.evaluate()
        await sup.deliver_due()

    await sup.refresh()
    bus.publish(_event("request_started", "w1", "r1", clock.now))
    bus.publish(_event("response_finished", "w1", "r1", clock.now + 0.1, "end_turn", "ok"))
    inbox.enqueue("sup", "w1", "hello")
    await step(1.0)
    assert sup.tracks["w1"].combined.status == "completed"
    assert tmux.line == {} and tmux.submitted == {}  # the screen still shows the turn running
    screens["w1"] = ("idle", True)
    await step(0.1)
    assert tmux.line == {"%w1": "[message #1 from sup]\nhello"}  # pasted; its Enter was lost
    await step(1.0)
    assert tmux.submitted == {}  # not yet: a request may still come
    await step(4.0)
    assert _ids(tmux, "%w1") == [1]  # Enter sent again, the paste submitted once
    for _ in range(5):
        await step(5.0)
    assert sup.tracks["w1"].nudges == 2  # at most twice, then it is the user's to look at
    assert _ids(tmux, "%w1") == [1]
