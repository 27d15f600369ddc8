"""The local gateway: one endpoint every coding agent uses in its own dialect (OpenAI or
Anthropic), in front of Kimi's coding endpoint. See docs/gateway.md."""

from kimibridge.gateway.app import Gateway, GatewayConfig, Upstream
from kimibridge.gateway.events import EventBus, Subscription, TurnEvent
from kimibridge.gateway.ledger import Ledger, LedgerRow, Totals
from kimibridge.gateway.local_auth import LocalKeys

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
