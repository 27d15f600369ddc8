"""Run the emulator: in the foreground (the CLI) or in a background thread with its own loop.

The background form serves tests and benchmarks: the caller's thread stays free (it may run
its own event loop) while the emulator answers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from kimibridge.emulator.app import Emulator, build_app

__all__ = ["BackgroundServer", "Urls", "run_foreground", "start_site"]


@dataclass(frozen=True, slots=True)
class Urls:
    """Where an emulator answers."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI base: the SDK appends ``/chat/completions``."""
        return f"{self.url}/coding/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Anthropic base: the SDK appends ``/v1/messages``."""
        return f"{self.url}/coding"

    @property
    def oauth_host(self) -> str:
        return self.url


async def start_site(emulator: Emulator, host: str, port: int) -> tuple[web.AppRunner, Urls]:
    """Bind and start serving; raises ``OSError`` when the port cannot be bound."""
    # A short shutdown grace: an open stream must not hold a test or Ctrl-C for a minute.
    runner = web.AppRunner(
        build_app(emulator), access_log=None, handle_signals=False, shutdown_timeout=2.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    server = site._server  # aiohttp exposes no public way to learn the bound port
    assert isinstance(server, asyncio.base_events.Server)
    bound_port = int(server.sockets[0].getsockname()[1])
    return runner, Urls(host, bound_port)


class BackgroundServer:
    """An emulator served from a daemon thread running its own event loop."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._urls: Urls | None = None

    @property
    def urls(self) -> Urls:
        if self._urls is None:
            raise RuntimeError("the emulator is not running")
        return self._urls

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the emulator is not running")
        return self._loop

    def start(self) -> Urls:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._runner, self._urls = loop.run_until_complete(
                    start_site(self.emulator, self._host, self._port)
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._runner.cleanup())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name="kimi-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self.urls

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_foreground(
    emulator: Emulator, host: str, port: int, on_ready: Callable[[Urls], None]
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly (no traceback, exit status 0).

    Raises ``OSError`` if the address cannot be bound.
    """

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
                loop.add_signal_handler(sig, stop.set)
        runner, urls = await start_site(emulator, host, port)
        try:
            on_ready(urls)
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(serve())
