"""The emulator runners: background thread (tests, benchmarks) and its URLs."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import pytest

from kimibridge.emulator.app import Emulator, EmulatorConfig
from kimibridge.emulator.server import BackgroundServer, Urls
from kimibridge.testing import run_emulator

pytestmark = pytest.mark.integration


def test_urls() -> None:
    urls = Urls("127.0.0.1", 8787)
    assert urls.base_url == "http://127.0.0.1:8787/coding/v1"
    assert urls.anthropic_base_url == "http://127.0.0.1:8787/coding"
    assert urls.oauth_host == urls.url == "http://127.0.0.1:8787"
    assert Urls("::1", 1).url == "http://[::1]:1"


def test_port_in_use_raises_oserror() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = BackgroundServer(Emulator(), "127.0.0.1", taken.getsockname()[1])
        with pytest.raises(OSError):
            server.start()
    server.stop()  # harmless when it never started


def test_two_emulators_are_independent() -> None:
    with run_emulator() as a, run_emulator(EmulatorConfig(token_ttl=5)) as b:
        assert a.port != b.port
        pair = a.issue_tokens()
        assert b.issue_tokens().expires_in == 5
        headers = {"Authorization": f"Bearer {pair.access_token}", "User-Agent": "kimibridge/0"}
        req = urllib.request.Request(f"{b.base_url}/me", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        info.value.close()
        assert info.value.code == 401  # a token from one deployment means nothing to another
    with pytest.raises(OSError):  # stopped: nothing listens any more
        socket.create_connection(("127.0.0.1", a.port), timeout=2).close()


async def test_usable_from_a_running_event_loop() -> None:
    # The caller's loop stays free: the emulator has its own loop in its own thread.
    with run_emulator() as kimi:
        reader, writer = await asyncio.open_connection("127.0.0.1", kimi.port)
        writer.write(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status = await reader.readline()
        writer.close()
        await writer.wait_closed()
    assert status.startswith(b"HTTP/1.1 200")
