"""Who may use the gateway: the local key file, and two small ASGI middlewares.

- ``LocalKeys``: ``gateway-keys.json`` under the config dir, ``{label: key}``, mode 0600,
  created on first run with one key labelled ``default``. One key per agent (``kimibridge key
  add <label>``) is what attributes requests to agents in the ledger and the events.
- ``HostCheck``: refuses a request whose ``Host`` is not a loopback name (a web page that
  rebinds its DNS name to 127.0.0.1 must not reach the gateway). Off when remote access was
  explicitly allowed.
- ``LocalAuth``: every route except the liveness ones needs a key, as ``x-api-key`` or
  ``Authorization: Bearer``; the key's label goes to ``scope["state"]["agent"]``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from kimibridge._fs import atomic_write, ensure_private_dir
from kimibridge.errors import ConfigError
from kimibridge.gateway.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "KEY_FILE_NAME",
    "OPEN_PATHS",
    "HostCheck",
    "LocalAuth",
    "LocalKeys",
    "is_loopback_host",
    "plain_error",
]

KEY_FILE_NAME: Final = "gateway-keys.json"
KEY_PREFIX: Final = "kb-"
_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Liveness routes answer without a key: they reveal nothing and harnesses probe them first
# (Claude Code sends `HEAD /` before its first request; `run` waits on /health).
OPEN_PATHS: Final = frozenset({"/", "/health", "/api/hello"})
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class LocalKeys:
    """The local keys: ``{label: key}``; looked up by key on every request (a dict hit)."""

    def __init__(self, path: Path, keys: Mapping[str, str]) -> None:
        self.path = path
        self._keys = dict(keys)
        self._by_key = {key: label for label, key in self._keys.items()}
        self._mtime = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0

    @classmethod
    def load_or_create(cls, config_dir: Path) -> LocalKeys:
        path = config_dir / KEY_FILE_NAME
        keys = cls._read(path)
        if not keys:
            keys = {"default": _new_key()}
            ensure_private_dir(config_dir)
            atomic_write(path, json.dumps(keys, indent=2) + "\n")
        return cls(path, keys)

    @staticmethod
    def _read(path: Path) -> dict[str, str]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the gateway key file {path}: {exc}") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ConfigError(f"gateway key file {path} is not a JSON object of label: key")
        return data

    @property
    def default(self) -> str:
        return self._keys.get("default") or next(iter(self._keys.values()))

    def labels(self) -> dict[str, str]:
        return dict(self._keys)

    def label_for(self, key: str) -> str | None:
        # `kimibridge key add/remove` in another process: a running gateway follows the file
        # without a restart. A miss costs one stat; a hit at most one stat a second.
        label = self._by_key.get(key)
        now = time.monotonic()
        if (label is None or now - self._checked > 1.0) and self._stat() != self._mtime:
            self._reload()
            label = self._by_key.get(key)
        if label is not None:
            self._checked = now
        return label

    def _reload(self) -> None:
        try:
            keys = self._read(self.path)
        except ConfigError:
            return  # a half-edited file: keep the keys we have
        if keys:
            self._keys = keys
            self._by_key = {key: label for label, key in keys.items()}
        self._mtime = self._stat()

    def add(self, label: str) -> str:
        """Create (or return the existing) key for ``label`` and save the file."""
        if not _LABEL.fullmatch(label):
            raise ConfigError(f"key label {label!r}: use letters, digits, '.', '_' or '-'")
        if label in self._keys:
            return self._keys[label]
        key = _new_key()
        self._save({**self._keys, label: key})
        return key

    def remove(self, label: str) -> bool:
        if label not in self._keys or len(self._keys) == 1:
            return False
        self._save({k: v for k, v in self._keys.items() if k != label})
        return True

    def _save(self, keys: dict[str, str]) -> None:
        ensure_private_dir(self.path.parent)
        atomic_write(self.path, json.dumps(keys, indent=2) + "\n")
        self._keys = keys
        self._by_key = {key: label for label, key in keys.items()}
        self._mtime = self._stat()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def is_loopback_host(host_header: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback (port ignored)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:  # an IP literal only: "127.0.0.1.evil.com" is a DNS name and must not pass
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def plain_error(send: Send, status: int, message: str, dialect: str) -> None:
    """A JSON error in the dialect the path suggests (the middlewares run before routing)."""
    if dialect == "anthropic":
        err = {"type": "error", "error": {"type": _anthropic_type(status), "message": message}}
    else:
        err = {
            "error": {"message": message, "type": _openai_type(status), "param": None, "code": None}
        }
    body = json.dumps(err).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _anthropic_type(status: int) -> str:
    return {401: "authentication_error", 403: "permission_error"}.get(
        status, "invalid_request_error"
    )


def _openai_type(status: int) -> str:
    return {401: "authentication_error", 403: "permission_error"}.get(
        status, "invalid_request_error"
    )


def _dialect_of(path: str) -> str:
    return "anthropic" if "/messages" in path or path.startswith("/anthropic") else "openai"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class HostCheck:
    """Refuse non-loopback ``Host`` headers (DNS rebinding), unless remote access is allowed."""

    def __init__(self, app: ASGIApp, *, allow_remote: bool = False) -> None:
        self.app = app
        self.allow_remote = allow_remote

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allow_remote:
            host = _header(scope, b"host")
            if host is None or not is_loopback_host(host):
                await plain_error(
                    send,
                    403,
                    "Host not allowed: the gateway answers loopback names only",
                    _dialect_of(scope["path"]),
                )
                return
        await self.app(scope, receive, send)


class LocalAuth:
    """Require a local key on every route but ``OPEN_PATHS``; put its label in the scope."""

    def __init__(
        self, app: ASGIApp, keys: LocalKeys, *, open_paths: Iterable[str] = OPEN_PATHS
    ) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        key: str | None = None
        for name, value in scope.get("headers") or ():
            if name == b"x-api-key":
                key = bytes(value).decode("latin-1").strip()
                break
            if name == b"authorization":
                scheme, _, token = bytes(value).decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    key = token.strip()
                    break
        label = self.keys.label_for(key) if key else None
        if label is None:
            message = (
                "invalid kimibridge key; `kimibridge key` shows it"
                if key
                else "missing kimibridge key: send it as x-api-key or Authorization: Bearer (`kimibridge key` shows it)"
            )
            await plain_error(send, 401, message, _dialect_of(scope["path"]))
            return
        scope.setdefault("state", {})["agent"] = label
        await self.app(scope, receive, send)
