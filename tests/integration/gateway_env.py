"""A gateway on loopback in front of an emulator, for the gateway integration tests."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimibridge.gateway import EventBus, Gateway, GatewayConfig, Ledger, LocalKeys
from kimibridge.gateway.server import GatewayThread
from kimibridge.gateway.types import Dialect
from kimibridge.kimi.endpoints import Endpoints
from kimibridge.kimi.identity import build_identity
from kimibridge.kimi.sources import ApiKeyTokenSource
from kimibridge.kimi.upstream import KimiUpstream
from kimibridge.testing import EmulatorHandle

UPSTREAM_KEY = "sk-kimi-gateway-tests"


@dataclass
class GatewayEnv:
    url: str
    key: str
    gateway: Gateway
    kimi: EmulatorHandle

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"


@contextmanager
def gateway_env(
    kimi: EmulatorHandle,
    tmp: Path,
    *,
    upstream_protocol: Dialect = "openai",
    preset: str = "kimibridge",
    allow_remote: bool = False,
) -> Iterator[GatewayEnv]:
    kimi.add_api_key(UPSTREAM_KEY)
    endpoints = Endpoints(region="mainland", auth_host=kimi.url, api_base=kimi.base_url)
    source = ApiKeyTokenSource(UPSTREAM_KEY, region="mainland", endpoints=endpoints)
    identity = build_identity(preset, environ=dict(os.environ))
    upstream = KimiUpstream(kimi.base_url, source, identity)
    keys = LocalKeys.load_or_create(tmp / "config")
    gateway = Gateway(
        upstream,
        keys,
        GatewayConfig(
            upstream_protocol=upstream_protocol, allow_remote=allow_remote, ledger_interval=0.05
        ),
        ledger=Ledger(tmp / "state" / "usage.sqlite3"),
        events=EventBus(),
    )
    with GatewayThread(gateway) as url:
        yield GatewayEnv(url, keys.default, gateway, kimi)


@dataclass
class Resp:
    status_code: int
    content: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Resp:
    """A blocking HTTP call with the stdlib (no client library's own retries or header rules)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return Resp(r.status, r.read(), {k.lower(): v for k, v in r.headers.items()})
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.read(), {k.lower(): v for k, v in e.headers.items()})
