"""The two lock protocols and holding them from async code (kimi._locks)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from kimibridge.kimi._locks import DirLock, FlockLock, LockTimeout, hold


def test_flock_excludes_a_second_holder_and_times_out(tmp_path: Path) -> None:
    first = FlockLock(tmp_path / "x.lock")
    first.acquire(threading.Event())
    second = FlockLock(tmp_path / "x.lock", timeout=0.1)
    with pytest.raises(LockTimeout, match=r"x\.lock"):
        second.acquire(threading.Event())
    first.release()
    second.acquire(threading.Event())
    second.release()
    assert (tmp_path / "x.lock").exists()  # the lock file stays, as kimi-cli's does


def test_dir_lock_is_a_directory_removed_on_release(tmp_path: Path) -> None:
    lock = DirLock(tmp_path / "oauth" / "kimi-code.lock", sentinel=tmp_path / "oauth" / "kimi-code")
    lock.acquire(threading.Event())
    assert lock.path.is_dir()
    assert (tmp_path / "oauth" / "kimi-code").is_file()
    other = DirLock(lock.path, timeout=0.1)
    with pytest.raises(LockTimeout):
        other.acquire(threading.Event())
    lock.release()
    assert not lock.path.exists()


def test_dir_lock_takes_over_a_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "k.lock"
    path.mkdir()
    old = time.time() - 60
    os.utime(path, (old, old))
    lock = DirLock(path, stale=5.0, timeout=1.0)
    lock.acquire(threading.Event())
    assert path.stat().st_mtime > old
    lock.release()


def test_dir_lock_holder_keeps_its_lock_fresh(tmp_path: Path) -> None:
    path = tmp_path / "k.lock"
    holder = DirLock(path, stale=2.0)  # heartbeat every 1 s
    holder.acquire(threading.Event())
    old = time.time() - 1.9
    os.utime(path, (old, old))
    deadline = time.monotonic() + 10
    while path.stat().st_mtime <= old + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_mtime > old + 1  # touched by the heartbeat (every second)
    waiter = DirLock(path, stale=2.0, timeout=0.3)
    with pytest.raises(LockTimeout):
        waiter.acquire(threading.Event())
    holder.release()


async def test_hold_acquires_off_the_event_loop(tmp_path: Path) -> None:
    blocker = FlockLock(tmp_path / "x.lock")
    blocker.acquire(threading.Event())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    asyncio.get_running_loop().call_later(0.2, blocker.release)
    async with hold(FlockLock(tmp_path / "x.lock")):
        pass
    task.cancel()
    assert ticks >= 5  # the loop kept running while the lock was awaited


async def test_cancelled_wait_releases_a_lock_acquired_late(tmp_path: Path) -> None:
    blocker = DirLock(tmp_path / "k.lock")
    blocker.acquire(threading.Event())

    async def wait_for_it() -> None:
        async with hold(DirLock(tmp_path / "k.lock")):
            raise AssertionError("not reached")

    task = asyncio.create_task(wait_for_it())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    blocker.release()
    await asyncio.sleep(0.1)
    again = DirLock(tmp_path / "k.lock", timeout=5.0)
    again.acquire(threading.Event())  # nobody kept it
    again.release()


def test_without_fcntl_importing_works_and_locking_says_why(tmp_path: Path) -> None:
    """On a platform without fcntl (Windows) the kimi modules still import; taking a credential
    lock is one clear ConfigError instead of an ImportError from an unrelated import."""
    import subprocess
    import sys

    code = (
        "import sys, threading, pathlib\n"
        "sys.modules['fcntl'] = None  # what `import fcntl` finds on Windows: ImportError\n"
        "import kimibridge.kimi.credentials as c\n"
        "from kimibridge.errors import ConfigError\n"
        f"store = c.CredentialStore(pathlib.Path({str(tmp_path / 'credentials.json')!r}))\n"
        "try:\n"
        "    store.lock().acquire(threading.Event())\n"
        "except ConfigError as exc:\n"
        "    print('CONFIG', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("CONFIG cannot lock"), out.stdout + out.stderr
    assert "Linux or macOS" in out.stdout
