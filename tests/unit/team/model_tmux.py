"""tmux as inbox delivery sees it, in memory: for unit tests of the delivery protocol."""

from __future__ import annotations

from collections.abc import Callable

from kimibridge.errors import TeamError

__all__ = ["Killed", "ModelTmux"]


class Killed(Exception):
    """The deliverer's process died here."""


class ModelTmux:
    """tmux as delivery sees it: named buffers, ``paste-buffer -d`` atomic, and a prompt that
    submits its line on Enter (an Enter on an empty line does nothing)."""

    def __init__(self, kill_at: Callable[[int], str | None] = lambda op: None) -> None:
        self.buffers: dict[str, str] = {}
        self.line: dict[str, str] = {}
        self.submitted: dict[str, list[str]] = {}
        self.ops = 0
        self.kill_at = kill_at

    def _op(self, action: Callable[[], None]) -> None:
        self.ops += 1
        when = self.kill_at(self.ops)
        if when == "before":
            raise Killed
        action()
        if when == "after":
            raise Killed

    async def load_buffer(self, name: str, text: str) -> None:
        self._op(lambda: self.buffers.__setitem__(name, text))

    async def has_buffer(self, name: str) -> bool:
        return name in self.buffers

    async def delete_buffer(self, name: str) -> None:
        def delete() -> None:
            self.buffers.pop(name, None)

        self._op(delete)

    async def paste_buffer(self, name: str, target: str) -> None:
        def paste() -> None:
            if name not in self.buffers:
                raise TeamError("no buffer")
            self.line[target] = self.line.get(target, "") + self.buffers.pop(name)

        self._op(paste)

    async def send_enter(self, target: str) -> None:
        def enter() -> None:
            text = self.line.pop(target, "")
            if text:
                self.submitted.setdefault(target, []).append(text)

        self._op(enter)
