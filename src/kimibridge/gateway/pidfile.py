"""Where a running gateway is: ``{pid, host, port, url, offline}`` in the state directory.

Read by `kimibridge serve --stop`, `run` and `team`; its own module so those stay cheap (no
uvicorn, no aiohttp).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kimibridge.config import Paths

__all__ = ["PIDFILE_NAME", "pidfile_path", "read_pidfile", "remove_pidfile", "write_pidfile"]

PIDFILE_NAME = "gateway.json"


def pidfile_path(paths: Paths) -> Path:
    return paths.state_dir / PIDFILE_NAME


def write_pidfile(paths: Paths, host: str, port: int, *, offline: bool) -> Path:
    """Where a running gateway is: ``{pid, host, port, url, offline}`` (read by `run` and `--stop`)."""
    from kimibridge._fs import atomic_write

    path = pidfile_path(paths)
    shown = f"[{host}]" if ":" in host else host
    info = {
        "pid": os.getpid(),
        "host": host,
        "port": port,
        "url": f"http://{shown}:{port}",
        "offline": offline,
    }
    atomic_write(path, json.dumps(info) + "\n")
    return path


def read_pidfile(paths: Paths) -> dict[str, Any] | None:
    """The running gateway's record, or None (no file, or its process is gone)."""
    path = pidfile_path(paths)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return None
    except PermissionError:
        pass
    return info if isinstance(info, dict) else None


def remove_pidfile(paths: Paths) -> None:
    path = pidfile_path(paths)
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass
