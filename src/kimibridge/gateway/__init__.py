"""The local gateway: one endpoint every coding agent uses in its own dialect (OpenAI or
Anthropic), in front of Kimi's coding endpoint. See docs/gateway.md."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kimibridge.gateway.app import Gateway, GatewayConfig, Upstream
    from kimibridge.gateway.events import EventBus, Subscription, TurnEvent
    from kimibridge.gateway.ledger import Ledger, LedgerRow, Totals
    from kimibridge.gateway.local_auth import LocalKeys

# Name -> the module that defines it, imported on first use (PEP 562): a CLI command that
# needs one small module (endpoints, credentials, local keys) does not pay for aiohttp.
_WHERE: dict[str, str] = {
    "EventBus": "kimibridge.gateway.events",
    "Gateway": "kimibridge.gateway.app",
    "GatewayConfig": "kimibridge.gateway.app",
    "Ledger": "kimibridge.gateway.ledger",
    "LedgerRow": "kimibridge.gateway.ledger",
    "LocalKeys": "kimibridge.gateway.local_auth",
    "Subscription": "kimibridge.gateway.events",
    "Totals": "kimibridge.gateway.ledger",
    "TurnEvent": "kimibridge.gateway.events",
    "Upstream": "kimibridge.gateway.app",
}

__all__ = [
    "EventBus",
    "Gateway",
    "GatewayConfig",
    "Ledger",
    "LedgerRow",
    "LocalKeys",
    "Subscription",
    "Totals",
    "TurnEvent",
    "Upstream",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
