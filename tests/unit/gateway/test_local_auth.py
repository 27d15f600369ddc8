"""Local keys, the Host check and the key check, against a bare ASGI app."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from kimibridge.errors import ConfigError
from kimibridge.gateway.local_auth import HostCheck, LocalAuth, LocalKeys, is_loopback_host


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1:8765", True),
        ("localhost", True),
        ("LOCALHOST:1", True),
        ("[::1]:8765", True),
        ("app.localhost:80", True),
        ("127.1.2.3", True),
        ("evil.com", False),
        ("127.0.0.1.evil.com", False),
        ("10.0.0.1:8765", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, ok: bool) -> None:
    assert is_loopback_host(host) is ok


def test_keys_created_private_and_labelled(tmp_path: Path) -> None:
    keys = LocalKeys.load_or_create(tmp_path / "cfg")
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.path.parent.stat().st_mode) == 0o700
    assert keys.label_for(keys.default) == "default"
    again = LocalKeys.load_or_create(tmp_path / "cfg")
    assert again.default == keys.default
    reviewer = keys.add("reviewer")
    assert keys.add("reviewer") == reviewer
    assert json.loads(keys.path.read_text()) == {"default": keys.default, "reviewer": reviewer}
    assert LocalKeys.load_or_create(tmp_path / "cfg").label_for(reviewer) == "reviewer"
    assert keys.remove("reviewer")
    assert not keys.remove("default")  # the last key stays
    with pytest.raises(ConfigError):
        keys.add("bad label!")


def test_broken_key_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "gateway-keys.json").write_text("[1]")
    with pytest.raises(ConfigError):
        LocalKeys.load_or_create(tmp_path)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.app_scope: dict[str, Any] | None = None

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        self.app_scope = scope

    async def send(self, message: Any) -> None:
        self.sent.append(message)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


def scope(path: str, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "path": path, "method": "POST", "headers": list(headers)}


async def test_local_auth(tmp_path: Path) -> None:
    keys = LocalKeys.load_or_create(tmp_path)
    rec = Recorder()
    auth = LocalAuth(rec.app, keys)
    await auth(scope("/v1/messages"), _receive, rec.send)
    assert rec.sent[0]["status"] == 401
    assert json.loads(rec.sent[1]["body"])["type"] == "error"  # Anthropic shape on /messages
    rec.sent.clear()
    await auth(scope("/v1/chat/completions", (b"authorization", b"Bearer x")), _receive, rec.send)
    assert rec.sent[0]["status"] == 401 and "error" in json.loads(rec.sent[1]["body"])
    s = scope("/v1/messages", (b"x-api-key", keys.default.encode()))
    await auth(s, _receive, rec.send)
    assert rec.app_scope is s and s["state"]["agent"] == "default"
    rec.app_scope = None
    await auth(scope("/health"), _receive, rec.send)
    assert rec.app_scope is not None


async def test_host_check() -> None:
    rec = Recorder()
    check = HostCheck(rec.app)
    await check(scope("/v1/models", (b"host", b"evil.com")), _receive, rec.send)
    assert rec.sent[0]["status"] == 403 and rec.app_scope is None
    await check(scope("/v1/models"), _receive, rec.send)  # no Host at all
    assert rec.sent[2]["status"] == 403
    await check(scope("/v1/models", (b"host", b"localhost:8765")), _receive, rec.send)
    assert rec.app_scope is not None
    rec.app_scope = None
    await HostCheck(rec.app, allow_remote=True)(
        scope("/", (b"host", b"box.lan")), _receive, rec.send
    )
    assert rec.app_scope is not None


def test_a_running_gateway_learns_keys_added_elsewhere(tmp_path: Path) -> None:
    running = LocalKeys.load_or_create(tmp_path)
    other_process = LocalKeys.load_or_create(tmp_path)
    new = other_process.add("worker-1")
    assert running.label_for(new) == "worker-1"
    other_process.remove("worker-1")
    running._checked -= 2  # a second later
    assert running.label_for(new) is None
    assert running.label_for(running.default) == "default"
