"""Delivering inbox messages into a receiver's terminal, exactly once (see ``team.inbox``).

One delivery, in this order, each step surviving a kill between any two of them:

1. ``next_batch``: the receiver's oldest pending messages (read only);
2. load them into the tmux buffer named after the batch (``load-buffer -b``);
3. ``claim`` the batch (rows ``delivering``; commits only if they are still pending);
4. ``paste-buffer -d``: paste and delete the buffer, one step inside tmux;
5. Enter, sent on its own (a pasted newline would not submit);
6. ``confirm`` (rows ``delivered``).

``recover`` settles batches a dead deliverer left ``delivering``: if their buffer still exists
the paste (4) never happened, so the rows are released to pending first and the buffer deleted
after (a kill in between leaves only a stray buffer: a new attempt gets a new name); if the
buffer is gone the paste happened, so Enter is sent (a no-op on an empty input line) and the
batch confirmed. The deliverer never pastes a batch it did not claim and never claims one whose
buffer is not loaded, so a message is neither lost nor pasted twice.

When to deliver is the caller's business (``team.supervisor``): only to a receiver that is idle
or has completed its turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from kimibridge.errors import TeamError
from kimibridge.team.inbox import Batch, Inbox, owner_alive, process_owner, render_batch

__all__ = ["Deliverer", "Delivery", "Terminal"]


class Terminal(Protocol):
    """The tmux operations delivery needs (``team.tmux`` in production)."""

    async def load_buffer(self, name: str, text: str) -> None: ...
    async def has_buffer(self, name: str) -> bool: ...
    async def delete_buffer(self, name: str) -> None: ...
    async def paste_buffer(self, name: str, target: str) -> None:
        """Paste the buffer into ``target`` and delete it (``paste-buffer -d -p``)."""
        ...

    async def send_enter(self, target: str) -> None: ...


class Delivery:
    """What one call delivered: batch name and message ids (empty: nothing was due)."""

    __slots__ = ("batch", "ids")

    def __init__(self, batch: str | None = None, ids: tuple[int, ...] = ()) -> None:
        self.batch = batch
        self.ids = ids

    def __bool__(self) -> bool:
        return bool(self.ids)


class Deliverer:
    """Moves messages from the inbox into terminals. ``target_of(agent)`` is the agent's tmux
    target, or None when the agent has no live terminal (its messages then wait)."""

    def __init__(
        self,
        inbox: Inbox,
        terminal: Terminal,
        target_of: Callable[[str], str | None],
        *,
        owner: str | None = None,
        alive: Callable[[str], bool] = owner_alive,
        enter_delay: float = 0.05,
    ) -> None:
        self.inbox = inbox
        self.terminal = terminal
        self.target_of = target_of
        self.owner = owner or process_owner()
        self.alive = alive
        # Enter right after a paste can be taken as part of the paste by some TUIs.
        self.enter_delay = enter_delay

    async def deliver(self, receiver: str) -> Delivery:
        target = self.target_of(receiver)
        if target is None:
            return Delivery()
        batch = await asyncio.to_thread(self.inbox.next_batch, receiver, self.owner)
        if batch is None:
            return Delivery()
        await self.terminal.load_buffer(batch.name, render_batch(batch))
        if not await asyncio.to_thread(self.inbox.claim, batch):
            await self.terminal.delete_buffer(batch.name)
            return Delivery()
        try:
            await self.terminal.paste_buffer(batch.name, target)
        except TeamError:
            # tmux refused (the pane is gone): the buffer was not consumed, nothing was pasted
            if await self.terminal.has_buffer(batch.name):
                await asyncio.to_thread(self.inbox.release, batch.name)
                await self.terminal.delete_buffer(batch.name)
                raise
            raise  # consumed after all: left delivering, `recover` finishes it
        await self._submit(target)
        await asyncio.to_thread(self.inbox.confirm, batch.name)
        return Delivery(batch.name, batch.ids)

    async def _submit(self, target: str) -> None:
        if self.enter_delay:
            await asyncio.sleep(self.enter_delay)
        await self.terminal.send_enter(target)

    async def recover(self, now: float | None = None) -> list[tuple[Batch, str]]:
        """Settle batches left ``delivering`` by a deliverer that is gone; returns what was
        decided for each: ``released`` (never pasted) or ``confirmed`` (pasted)."""
        found = await asyncio.to_thread(
            lambda: self.inbox.in_doubt(now, owner=self.owner, alive=self.alive)
        )
        decided: list[tuple[Batch, str]] = []
        for batch in found:
            if await self.terminal.has_buffer(batch.name):
                await asyncio.to_thread(self.inbox.release, batch.name)
                await self.terminal.delete_buffer(batch.name)
                decided.append((batch, "released"))
                continue
            target = self.target_of(batch.receiver)
            if target is not None:
                await self._submit(target)
            await asyncio.to_thread(self.inbox.confirm, batch.name)
            decided.append((batch, "confirmed"))
        return decided
