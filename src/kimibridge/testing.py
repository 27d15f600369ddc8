"""Test helpers: a Kimi emulator on a free loopback port, and a pytest fixture for it.

    from kimibridge.testing import run_emulator

    with run_emulator(token_ttl=30) as kimi:
        tokens = kimi.issue_tokens()
        ...  # point a client at kimi.base_url with tokens.access_token
        assert kimi.refresh_reuse_count == 0

In pytest (the plugin is loaded with ``pytest_plugins = ["kimibridge.testing"]``), the
``kimi_emulator`` fixture yields the same handle; ``@pytest.mark.kimi_emulator(token_ttl=1)``
passes config overrides to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kimibridge.emulator.app import Emulator, EmulatorConfig
from kimibridge.emulator.faults import Fault, FaultKind
from kimibridge.emulator.oauth import TokenPair
from kimibridge.emulator.recorder import RecordedRequest
from kimibridge.emulator.server import BackgroundServer

__all__ = ["EmulatorHandle", "RecordedRequest", "TokenPair", "run_emulator"]


class EmulatorHandle:
    """A running emulator: its URLs, its recorded requests, and the levers tests pull."""

    def __init__(self, emulator: Emulator, server: BackgroundServer) -> None:
        self.emulator = emulator
        self._server = server

    # -- where it answers ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:50123``."""
        return self._server.urls.url

    @property
    def base_url(self) -> str:
        """OpenAI-dialect base (``…/coding/v1``); also Kimi's base for every platform route."""
        return self._server.urls.base_url

    @property
    def anthropic_base_url(self) -> str:
        """Anthropic-dialect base (``…/coding``): the SDK appends ``/v1/messages``."""
        return self._server.urls.anthropic_base_url

    @property
    def oauth_host(self) -> str:
        """Value for ``KIMI_CODE_OAUTH_HOST``."""
        return self._server.urls.oauth_host

    @property
    def port(self) -> int:
        return self._server.urls.port

    # -- what it received ---------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far (control calls excluded), oldest first."""
        return self.emulator.platform.recorder.all()

    def clear_requests(self) -> None:
        self.emulator.platform.recorder.clear()

    @property
    def refresh_reuse_count(self) -> int:
        """Refresh tokens presented again after they were spent (should stay 0)."""
        return self.emulator.platform.oauth.stats.refresh_reuse_count

    @property
    def stats(self) -> dict[str, Any]:
        return self.emulator.stats()

    # -- levers -------------------------------------------------------------------------

    def issue_tokens(self, ttl: float | None = None) -> TokenPair:
        """A token pair as if a device login had just completed (``ttl`` overrides the TTL)."""
        return self.emulator.platform.oauth.issue(ttl)

    def add_api_key(self, key: str) -> None:
        self.emulator.platform.gate.add_key(key)

    def approve(self, user_code: str | None = None) -> list[str]:
        """Approve a pending device login (None: all pending); returns the user codes."""
        return self.emulator.platform.oauth.approve(user_code)

    def deny(self, user_code: str | None = None) -> list[str]:
        return self.emulator.platform.oauth.deny(user_code)

    def set_token_ttl(self, seconds: float) -> None:
        """Lifetime of access tokens issued from now on."""
        self.emulator.platform.set_token_ttl(seconds)

    def expire_tokens(self) -> None:
        """Expire every access token issued so far (the next API call answers 401)."""
        self.emulator.platform.oauth.expire_all()

    def inject(self, kind: FaultKind | str, route: str | None = None, **kw: Any) -> Fault:
        """Queue one fault for the next matching request (no route: the next model request)."""
        return self.emulator.platform.inject(kind, route, **kw)

    def script(self, steps: list[dict[str, Any]]) -> None:
        """Script the model's next turns (delegates to the model half)."""
        self.emulator.model.script(steps)

    def __repr__(self) -> str:
        return f"EmulatorHandle({self.url}, {len(self.requests)} requests)"


def _config(config: EmulatorConfig | None, overrides: dict[str, Any]) -> EmulatorConfig:
    # Always a copy: the emulator changes its config at runtime (set_token_ttl, latency).
    return dataclasses.replace(config if config is not None else EmulatorConfig(), **overrides)


@contextmanager
def run_emulator(
    config: EmulatorConfig | None = None, **overrides: Any
) -> Iterator[EmulatorHandle]:
    """Start an emulator on 127.0.0.1 (a free port) in a background thread; stop it on exit.

    Keyword arguments override fields of ``config`` (see ``EmulatorConfig``).
    """
    emulator = Emulator(_config(config, overrides))
    server = BackgroundServer(emulator, "127.0.0.1", 0)
    server.start()
    try:
        yield EmulatorHandle(emulator, server)
    finally:
        server.stop()


try:
    import pytest
except ModuleNotFoundError:  # run_emulator works without pytest (benchmarks, scripts)
    pass
else:

    def pytest_configure(config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers",
            "kimi_emulator(**overrides): EmulatorConfig overrides for the kimi_emulator fixture",
        )

    @pytest.fixture
    def kimi_emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
        """A fresh Kimi emulator on a free loopback port for this test."""
        marker = request.node.get_closest_marker("kimi_emulator")
        overrides: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        with run_emulator(**overrides) as handle:
            yield handle
