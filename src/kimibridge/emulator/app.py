"""The emulator's aiohttp application and the state it serves.

Two halves register their routes on one app:
- ``platform``: OAuth, bearer/User-Agent checks, request recording, status faults, latency,
  models, files, search, fetch, tools, usages, me, control routes;
- ``model``: chat completions (OpenAI) and messages (Anthropic), count_tokens, the prompt
  cache, scripted scenarios and the default directive, stream faults.

Request-scoped contract between them: for every model route the platform middleware has
already authenticated the request, recorded it, and answered any status fault. It stores the
fault still to apply (a stream fault, or None) in ``request[FAULT_KEY]`` and the dialect in
``request[DIALECT_KEY]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from kimibridge.emulator.errors import Dialect
from kimibridge.emulator.faults import Fault

__all__ = ["DIALECT_KEY", "FAULT_KEY", "Emulator", "EmulatorConfig", "build_app"]

EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator")
# The request-scoped contract between the two halves (see the module docstring).
FAULT_KEY: web.RequestKey[Fault | None] = web.RequestKey("kimibridge.fault")
DIALECT_KEY: web.RequestKey[Dialect] = web.RequestKey("kimibridge.dialect")


@dataclass(slots=True)
class EmulatorConfig:
    token_ttl: float = 900.0  # access token lifetime, seconds
    latency_ms: float = 0.0  # added before every answer
    cache_ttl: float = 300.0  # prompt cache entry lifetime, seconds
    scenario_path: Path | None = None
    # Filled in by the platform half with Kimi's coding-agent User-Agent prefixes when None.
    user_agent_allowlist: tuple[str, ...] | None = None
    static_keys: tuple[str, ...] = field(default_factory=tuple)
    # Platform half (OAuth, auth): see docs/emulator.md.
    accept_any_static_key: bool = False  # any `sk-kimi-…` bearer passes, not only registered ones
    approve_after_polls: int | None = 1  # device codes approve themselves after N pending polls
    device_code_ttl: float = 1800.0  # device code `expires_in`, seconds
    poll_interval: int = 5  # device code `interval`; polling faster answers `slow_down`
    refresh_token_ttl: float | None = None  # None: refresh tokens live until spent
    # Paths that skip the User-Agent gate (kimi-cli sends aiohttp's default UA there).
    ua_gate_exempt: tuple[str, ...] = ("/coding/v1/models", "/coding/v1/usages")


class Emulator:
    """All mutable state of one emulator instance; tests reach it through ``kimibridge.testing``."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        from kimibridge.emulator import model, platform

        self.platform = platform.PlatformState(self.config)
        self.model = model.ModelState(self.config)

    def stats(self) -> dict[str, Any]:
        """Both halves' counters in one flat mapping (their names do not overlap)."""
        return {**self.platform.stats(), **self.model.stats()}


def build_app(emulator: Emulator) -> web.Application:
    from kimibridge.emulator import model, platform

    app = web.Application(middlewares=platform.middlewares(emulator), client_max_size=64 * 1024**2)
    app[EMULATOR_KEY] = emulator
    platform.register(app, emulator)
    model.register(app, emulator)
    return app
