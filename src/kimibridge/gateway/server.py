"""Building the gateway from settings, and serving it with uvicorn (foreground or a thread).

    gateway, cleanup = build_gateway(settings, paths, environ, options)
    serve_foreground(gateway, host, port)            # `kimibridge serve`
    with GatewayThread(gateway) as url: ...          # tests and benchmarks

``--offline`` starts the built-in emulator in this process (its own thread and loop), registers
a random API key with it and uses that as the upstream credential. The emulator is imported only
on that path: product code never depends on it otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kimibridge.config import Paths, Settings
from kimibridge.gateway.app import Extension, Gateway, GatewayConfig
from kimibridge.gateway.events import EventBus
from kimibridge.gateway.ledger import LEDGER_FILE_NAME, Ledger
from kimibridge.gateway.local_auth import LocalKeys
from kimibridge.gateway.pidfile import pidfile_path, read_pidfile, remove_pidfile, write_pidfile
from kimibridge.gateway.types import Dialect
from kimibridge.kimi.model_map import DEFAULT_MODEL_MAP, ModelMap

__all__ = [
    "BuildOptions",
    "Built",
    "GatewayThread",
    "bind_socket",
    "build_gateway",
    "is_loopback_bind",
    "pidfile_path",
    "read_pidfile",
    "remove_pidfile",
    "serve_foreground",
    "start_offline_upstream",
    "write_pidfile",
]

# Builds one in-process extension from the paths and environment the gateway was built with.
ExtensionFactory = Callable[[Paths, Mapping[str, str]], Extension]


@dataclass(frozen=True, slots=True)
class BuildOptions:
    upstream_protocol: Dialect = "openai"
    offline: bool = False
    allow_remote: bool = False
    model_map: tuple[tuple[str, str], ...] = DEFAULT_MODEL_MAP
    ledger: bool = True
    # Parts that run inside the gateway process (``serve`` passes the team's supervisor and agent
    # MCP server, /mcp/team). Factories, so the gateway never imports the packages above it.
    extensions: tuple[ExtensionFactory, ...] = ()


@dataclass(slots=True)
class Built:
    gateway: Gateway
    upstream_url: str
    identity_preset: str
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        self.cleanups.clear()


def is_loopback_bind(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def build_gateway(
    settings: Settings,
    paths: Paths,
    environ: Mapping[str, str] | None = None,
    options: BuildOptions | None = None,
) -> Built:
    """The gateway for these settings; raises ``NeedsLogin`` when not offline and not signed in."""
    from kimibridge.kimi.account import identity_for
    from kimibridge.kimi.upstream import KimiUpstream

    env = dict(os.environ if environ is None else environ)
    opts = options or BuildOptions()
    keys = LocalKeys.load_or_create(paths.config_dir)
    ledger = Ledger(paths.state_dir / LEDGER_FILE_NAME) if opts.ledger else None
    identity = identity_for(settings, env)
    cleanups: list[Callable[[], None]] = []
    if opts.offline:
        base_url, token_source, stop = start_offline_upstream()
        cleanups.append(stop)
    else:
        base_url, token_source = _signed_in_upstream(settings, paths, env)
    upstream = KimiUpstream(base_url, token_source, identity)
    gateway = Gateway(
        upstream,
        keys,
        GatewayConfig(
            upstream_protocol=opts.upstream_protocol,
            allow_remote=opts.allow_remote,
            offline=opts.offline,
        ),
        models=ModelMap(opts.model_map),
        ledger=ledger,
        events=EventBus(),
    )
    gateway.extensions.extend(make(paths, env) for make in opts.extensions)
    return Built(gateway, base_url, settings.identity.preset, cleanups)


def _signed_in_upstream(
    settings: Settings, paths: Paths, env: Mapping[str, str]
) -> tuple[str, Any]:
    from kimibridge.kimi.account import open_account

    account = open_account(paths, settings, env)
    return account.endpoints.api_base, account.source


def start_offline_upstream() -> tuple[str, Any, Callable[[], None]]:
    """The emulator in a background thread, with a fresh API key registered as our credential:
    ``(api base URL, token source, stop)`` (``serve --offline``, ``mcp --offline``)."""
    from kimibridge.emulator import Emulator, EmulatorConfig
    from kimibridge.emulator.server import BackgroundServer
    from kimibridge.kimi.endpoints import Endpoints
    from kimibridge.kimi.sources import ApiKeyTokenSource

    emulator = Emulator(EmulatorConfig())
    server = BackgroundServer(emulator, "127.0.0.1", 0)
    urls = server.start()
    key = "sk-kimi-offline-" + secrets.token_hex(16)
    emulator.platform.gate.add_key(key)
    endpoints = Endpoints(region="mainland", auth_host=urls.oauth_host, api_base=urls.base_url)
    source = ApiKeyTokenSource(key, region="mainland", endpoints=endpoints)
    return urls.base_url, source, server.stop


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts, so the real port is known (``port=0``) and errors are ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _uvicorn_config(gateway: Gateway, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(
        gateway,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        # No X-Forwarded-* rewriting: the gateway is not behind a proxy and never reads the
        # client address; one ASGI layer less per request.
        proxy_headers=False,
        timeout_graceful_shutdown=3,
        server_header=False,
        date_header=False,
    )


def serve_foreground(gateway: Gateway, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve on ``sock`` until SIGINT/SIGTERM, then return (so the caller can clean up)."""
    import signal

    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after shutting down, which kills the process before
            # the caller removes its pidfile; a stop request is a normal exit here.
            sigs = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    # Everything imported and built so far lives as long as the process: move it out of the
    # collector's reach, so a full collection scans only what requests allocate (it otherwise
    # walks ~100k long-lived objects, tens of ms, every few hundred requests).
    gc.collect()
    gc.freeze()
    _Server(_uvicorn_config(gateway, log_level)).run(sockets=[sock])


class GatewayThread:
    """The gateway on 127.0.0.1 (a free port) served by uvicorn in a daemon thread."""

    def __init__(self, gateway: Gateway, host: str = "127.0.0.1", port: int = 0) -> None:
        self.gateway = gateway
        self.sock = bind_socket(host, port)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        import uvicorn

        self._server = uvicorn.Server(_uvicorn_config(self.gateway, "warning"))
        self._server.install_signal_handlers = lambda: None  # not the main thread
        started = threading.Event()

        def main() -> None:
            import uvloop

            async def serve() -> None:
                task = asyncio.ensure_future(self._server.serve(sockets=[self.sock]))
                while not self._server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes only a flag
                    await asyncio.sleep(0.005)
                started.set()
                await task

            uvloop.run(serve())
            started.set()

        self._thread = threading.Thread(target=main, name="kimibridge-gateway", daemon=True)
        self._thread.start()
        started.wait(10)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(gateway: Gateway) -> Iterator[str]:
    with GatewayThread(gateway) as url:
        yield url
