"""The model catalog fetched through KimiUpstream from the emulator, and its cache file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimibridge.emulator.faults import FaultKind
from kimibridge.errors import UpstreamStatusError
from kimibridge.kimi.catalog import fetch_catalog, load_catalog
from kimibridge.kimi.identity import build_identity
from kimibridge.kimi.tokens import Credential
from kimibridge.kimi.upstream import KimiUpstream
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

KEY = "sk-kimi-catalog-test"


class _Key:
    async def current(self) -> Credential:
        return Credential(KEY, "api_key", "mainland")

    async def after_unauthorized(self, rejected: Credential) -> Credential:
        raise AssertionError("not expected")


async def test_fetch_parse_cache_and_resolve(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    kimi_emulator.add_api_key(KEY)
    cache = tmp_path / "state" / "models.json"
    identity = build_identity("harness", environ={})
    async with KimiUpstream(kimi_emulator.base_url, _Key(), identity) as upstream:
        catalog = await fetch_catalog(upstream, cache=cache)
    assert catalog.base_url == kimi_emulator.base_url
    assert catalog.ids[0] == "kimi-for-coding"
    k3 = catalog.resolve("k3")
    assert k3 is not None
    assert k3.context_length == 1048576
    assert k3.supports_thinking_type == "only" and not k3.can_disable_thinking
    assert k3.efforts == ("low", "high", "max") and k3.default_effort == "high"
    kfc = catalog.resolve("kimi-for-coding")
    assert kfc is not None and kfc.can_disable_thinking and kfc.supports_image_in
    cached = load_catalog(cache, base_url=kimi_emulator.base_url)
    assert cached is not None and cached.models == catalog.models


async def test_fetch_errors_are_typed_and_leave_the_cache_alone(
    kimi_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    kimi_emulator.add_api_key(KEY)
    kimi_emulator.inject(FaultKind.UNAVAILABLE, route="/models")
    cache = tmp_path / "models.json"
    identity = build_identity("harness", environ={})
    async with KimiUpstream(kimi_emulator.base_url, _Key(), identity) as upstream:
        with pytest.raises(UpstreamStatusError):
            await fetch_catalog(upstream, cache=cache)
    assert not cache.exists()
