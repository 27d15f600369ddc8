"""The sandbox every real client runs in: loopback-only, with the test's servers carried in, and audited."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiohttp import web

from tests.e2e.agents import AgentCommand, Connect, arun_agent, parse_strace, run_agent

pytestmark = pytest.mark.e2e

_PROBE = r"""
import socket, sys, urllib.request
port, sink = int(sys.argv[1]), int(sys.argv[2])
print(urllib.request.urlopen(f"http://127.0.0.1:{port}/hello").read().decode())
if socket.has_ipv6:
    print(urllib.request.urlopen(f"http://[::1]:{port}/v6").read().decode())
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sink}/@opencode-ai%2fplugin")
except urllib.error.HTTPError as exc:
    print("sink", exc.code)
for addr in ("192.0.2.1", "2001:db8::1"):
    try:
        socket.create_connection((addr, 443), timeout=5)
    except OSError as exc:
        print(addr, type(exc).__name__)
try:
    socket.getaddrinfo("registry.npmjs.org", 443)
except OSError as exc:
    print("dns", type(exc).__name__)
open("written.txt", "w").write("ok")
"""


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from the host, {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def host_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_loopback_reaches_the_host_server_and_nothing_else(
    host_server: int, tmp_path: Path
) -> None:
    sink = 48_123
    command = AgentCommand(
        client="probe",
        argv=(sys.executable, "-c", _PROBE, str(host_server), str(sink)),
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        home=tmp_path,
        ports=(host_server,),
        sink_port=sink,
    )

    result = run_agent(command, timeout=60)

    assert result.returncode == 0, result.describe()
    lines = result.stdout.splitlines()
    assert lines[0] == "hello from the host, /hello"
    if socket.has_ipv6:  # ::1 inside reaches the host server's 127.0.0.1 too
        assert lines[1] == "hello from the host, /v6"
    assert "sink 404" in lines
    assert "192.0.2.1 OSError" in lines or "192.0.2.1 ConnectionError" in lines, lines
    assert any(line.startswith("2001:db8::1 ") for line in lines), lines
    assert any(line.startswith("dns ") for line in lines), lines
    assert result.written == {"written.txt": b"ok"}

    outside = {(c.address, c.port) for c in result.outside_connects}
    assert ("192.0.2.1", 443) in outside
    assert ("2001:db8::1", 443) in outside
    assert any(port == 53 for _, port in outside), result.describe()  # the DNS attempt
    inside = {(c.address, c.port) for c in result.connects if not c.outside}
    assert ("127.0.0.1", host_server) in inside


def test_parse_strace_reads_both_families_and_ignores_unix_sockets() -> None:
    log = "\n".join(
        [
            '101 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
            "101 connect(14, {sa_family=AF_INET, sin_port=htons(8080), "
            'sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)',
            "102 connect(10, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
            'inet_pton(AF_INET6, "2606:4700::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH',
            '103 sendto(5, "\\x12"..., 40, 0, {sa_family=AF_INET, sin_port=htons(53), '
            'sin_addr=inet_addr("127.0.0.53")}, 16) = 40',
            "104 connect(7, {sa_family=AF_INET6, sin6_port=htons(9000), sin6_flowinfo=htonl(0), "
            'inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        ]
    )

    found = parse_strace(log)

    assert found == [
        Connect(
            "connect", "AF_INET", "127.0.0.1", 8080, "-1 EINPROGRESS (Operation now in progress)"
        ),
        Connect("connect", "AF_INET6", "2606:4700::1", 443, "-1 ENETUNREACH"),
        Connect("sendto", "AF_INET", "127.0.0.53", 53, "40"),
        Connect("connect", "AF_INET6", "::ffff:127.0.0.1", 9000, "0"),
    ]
    assert [c.outside for c in found] == [False, True, True, False]


async def test_arun_agent_keeps_a_server_on_the_test_loop_answering(tmp_path: Path) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello from the test loop")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        fetch = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode())"
        command = AgentCommand(
            client="probe",
            argv=(sys.executable, "-c", fetch),
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            cwd=tmp_path,
            home=tmp_path,
            ports=(port,),
        )

        result = await arun_agent(command, run_timeout=60)
    finally:
        await runner.cleanup()

    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == "hello from the test loop"
    assert result.outside_connects == []
