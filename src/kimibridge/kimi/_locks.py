"""Cross-process file locks (blocking; taken in a worker thread) and the async way to hold one.

Two protocols, each the one its file's owner uses:

- ``FlockLock``: ``fcntl.flock`` on a lock file (kimibridge's own file, legacy kimi-cli);
- ``DirLock``: a directory created with ``mkdir``, as proper-lockfile does (Kimi Code). The
  holder refreshes the directory's mtime every ``stale / 2`` seconds; a waiter removes a lock
  whose mtime is older than ``stale`` (its holder died) and tries again.

``hold(lock)`` acquires in a thread so the event loop never blocks, and releases a lock the
thread got after the waiting task was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from kimibridge.errors import AuthError, ConfigError

try:
    import fcntl
except ImportError:  # not POSIX (Windows): say so when a lock is first needed, not on import
    fcntl = None  # type: ignore[assignment]

__all__ = ["DirLock", "FlockLock", "LockTimeout", "SyncLock", "hold"]

# Waiters poll (so a wait can time out or be cancelled): from 1 ms, backing off to 25 ms.
_POLL_MIN_S = 0.001
_POLL_MAX_S = 0.025


def _pause(attempt: int) -> None:
    time.sleep(min(_POLL_MAX_S, _POLL_MIN_S * 2 ** min(attempt, 5)) * (0.5 + random.random()))


class LockTimeout(AuthError):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__(
            f"could not take the credential lock {path} within {timeout:g} s: another process "
            "(kimibridge or kimi-cli) holds it; try again"
        )


class _Cancelled(Exception):
    pass


class SyncLock(Protocol):
    path: Path

    def acquire(self, cancel: threading.Event) -> None:
        """Block until held; raise ``LockTimeout``, or ``_Cancelled`` once ``cancel`` is set."""
        ...

    def release(self) -> None: ...


class FlockLock:
    """``flock(LOCK_EX)`` on ``path`` (created empty, 0600), polled so it can time out."""

    def __init__(self, path: Path, *, timeout: float = 60.0) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self, cancel: threading.Event) -> None:
        if fcntl is None:
            raise ConfigError(
                f"cannot lock {self.path}: kimibridge's credential locks need flock, which this "
                "platform lacks; run kimibridge on Linux or macOS (or in WSL)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        deadline = time.monotonic() + self.timeout
        attempt = 0
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if cancel.is_set():
                        raise _Cancelled from None
                    if time.monotonic() >= deadline:
                        raise LockTimeout(self.path, self.timeout) from None
                    _pause(attempt)
                    attempt += 1
                    continue
                self._fd = fd
                return
        except BaseException:
            os.close(fd)
            raise

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class DirLock:
    """A proper-lockfile-compatible lock directory."""

    def __init__(
        self,
        path: Path,
        *,
        stale: float = 5.0,
        timeout: float = 60.0,
        sentinel: Path | None = None,
    ) -> None:
        self.path = path
        self.stale = max(stale, 2.0)  # proper-lockfile's floor
        self.timeout = timeout
        self.sentinel = sentinel  # the file proper-lockfile "locks"; created empty like Kimi Code
        self._stop: threading.Event | None = None
        self._beat: threading.Thread | None = None

    def acquire(self, cancel: threading.Event) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.sentinel is not None:
            self.sentinel.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(self.sentinel, "a"):
                pass
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            if self._try_mkdir():
                self._start_heartbeat()
                return
            if cancel.is_set():
                raise _Cancelled
            if time.monotonic() >= deadline:
                raise LockTimeout(self.path, self.timeout)
            _pause(attempt)
            attempt += 1

    def _try_mkdir(self) -> bool:
        try:
            os.mkdir(self.path)
            return True
        except FileExistsError:
            pass
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return self._mkdir_once()
        if mtime < time.time() - self.stale:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(self.path)
            return self._mkdir_once()
        return False

    def _mkdir_once(self) -> bool:
        try:
            os.mkdir(self.path)
            return True
        except FileExistsError:
            return False

    def _start_heartbeat(self) -> None:
        stop = threading.Event()
        interval = max(min(self.stale / 2, self.stale - 1), 1.0)

        def beat() -> None:
            while not stop.wait(interval):
                with contextlib.suppress(OSError):
                    os.utime(self.path)

        self._stop = stop
        self._beat = threading.Thread(
            target=beat, name=f"lock-heartbeat:{self.path.name}", daemon=True
        )
        self._beat.start()

    def release(self) -> None:
        stop, self._stop = self._stop, None
        if stop is None:
            return
        stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(self.path)


@contextlib.asynccontextmanager
async def hold(lock: SyncLock) -> AsyncIterator[None]:
    """Hold ``lock`` for the block, acquiring it in a worker thread."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    future = loop.run_in_executor(None, lock.acquire, cancel)
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel.set()

        def release_if_acquired(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and done.exception() is None:
                lock.release()

        future.add_done_callback(release_if_acquired)
        raise
    try:
        yield
    finally:
        await asyncio.to_thread(lock.release)
