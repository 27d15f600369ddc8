"""A loopback-only network sandbox for real agent CLIs, and the bridge that lets them reach a test's servers.

The client runs in a fresh network namespace (``unshare -n``, or ``unshare -rn`` where only user
namespaces are allowed) whose only interface is ``lo``: a connection to anything but 127.0.0.1 / ::1
cannot succeed, whatever the client's telemetry or update code tries. The test's servers (emulator,
gateway) keep running in the test process, in the host namespace; each of their ports is carried in
through a Unix socket, which crosses namespaces because it is a file:

    client ──tcp 127.0.0.1:P──▶ inner relay (in the namespace) ──unix──▶ UnixBridge (test process) ──tcp──▶ 127.0.0.1:P

The inner relay listens on the *same* port number inside the namespace, so the URLs the test hands the
client stay valid unchanged.

This file is both a module (``UnixBridge``, ``sandbox_prefix``) and the script that runs inside the
namespace (``python netns.py --forward PORT=SOCKET ... -- ARGV``). The script uses the standard library
only and, before it starts the client, checks that the namespace really is loopback-only; it exits
``ISOLATION_BROKEN`` otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import http.server
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["ISOLATION_BROKEN", "SCRIPT", "UnixBridge", "probe_unshare", "sandbox_argv"]

SCRIPT = Path(__file__).resolve()
ISOLATION_BROKEN = 125  # exit status of the runner when the namespace can reach beyond loopback
_BUFSIZE = 65536

# --------------------------------------------------------------------------------------------
# Shared: pumping bytes between two sockets


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(_BUFSIZE):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        # Half-close so the peer sees EOF but can still answer (HTTP keep-alive and SSE both need it).
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy both directions until both sides are done, then close both."""
    back = threading.Thread(target=_pump, args=(b, a), daemon=True)
    back.start()
    _pump(a, b)
    back.join()
    a.close()
    b.close()


# --------------------------------------------------------------------------------------------
# Outer side: in the test process


class UnixBridge:
    """Accepts on a Unix socket and forwards each connection to ``(host, port)`` over TCP."""

    def __init__(self, socket_path: Path, port: int, host: str = "127.0.0.1") -> None:
        self.socket_path = socket_path
        self.port = port
        self.host = host
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._thread: threading.Thread | None = None
        self._closed = False

    def __enter__(self) -> UnixBridge:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        self._listener.bind(str(self.socket_path))
        self._listener.listen(64)
        self._thread = threading.Thread(target=self._serve, daemon=True, name="unix-bridge")
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                inner, _ = self._listener.accept()
            except OSError:
                return
            try:
                outer = socket.create_connection((self.host, self.port))
            except OSError:
                inner.close()
                continue
            threading.Thread(target=_splice, args=(inner, outer), daemon=True).start()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


_UNSHARE_VARIANTS: tuple[tuple[str, ...], ...] = (
    ("unshare", "--net"),  # root, or CAP_SYS_ADMIN
    ("unshare", "--user", "--map-root-user", "--net"),  # unprivileged user namespaces
)


def probe_unshare() -> tuple[str, ...] | None:
    """The first ``unshare`` invocation that can create a network namespace here, or None."""
    for variant in _UNSHARE_VARIANTS:
        try:
            done = subprocess.run([*variant, "true"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return variant
    return None


def sandbox_argv(
    unshare: Sequence[str],
    forwards: Iterable[tuple[int, Path]],
    argv: Sequence[str],
    *,
    sink_port: int | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The command line that runs ``argv`` loopback-only, with each ``(port, socket)`` carried in.

    ``sink_port``: also answer every HTTP request on that port with 404 inside the namespace (a
    stand-in for a package registry a client insists on asking).
    """
    spec = [f"--forward={port}={path}" for port, path in forwards]
    if sink_port is not None:
        spec.append(f"--sink={sink_port}")
    return [*unshare, python, str(SCRIPT), *spec, "--", *argv]


# --------------------------------------------------------------------------------------------
# Inner side: the script run inside the namespace

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_TEST_NET = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never a real host


def _loopback_up() -> None:
    """``ip link set lo up`` without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def _isolation_problems() -> list[str]:
    """Why this namespace could reach beyond loopback (empty when it cannot)."""
    # socket.if_nameindex() asks the kernel about *this* namespace (/sys/class/net may be the host's).
    problems = [f"interface {name!r} present" for _, name in socket.if_nameindex() if name != "lo"]
    for family, addr in ((socket.AF_INET, _TEST_NET), (socket.AF_INET6, "2001:db8::1")):
        # A UDP connect sends nothing; it only asks the kernel for a route.
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect((addr, 9))
            except OSError as exc:
                if exc.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
                    problems.append(f"route to {addr}: unexpected {exc}")
            else:
                problems.append(f"a route to {addr} exists")
    return problems


def _listen(port: int) -> socket.socket:
    """Listen on 127.0.0.1 and ::1 (a client may resolve ``localhost`` to either); only ``lo``
    exists in the namespace, so the wildcard address reaches nothing else."""
    if socket.has_dualstack_ipv6():
        with contextlib.suppress(OSError):
            return socket.create_server(
                ("::", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=64
            )
    return socket.create_server(("127.0.0.1", port), backlog=64)


def _relay(listener: socket.socket, socket_path: str) -> None:
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(socket_path)
        except OSError:
            client.close()
            continue
        threading.Thread(target=_splice, args=(client, upstream), daemon=True).start()


class _NotFound(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b'{"error": "not found (kimibridge test sink)"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def _sink(port: int) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _NotFound)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()


def _run_inside(forwards: Sequence[str], argv: Sequence[str], sink: int | None = None) -> int:
    _loopback_up()
    problems = _isolation_problems()
    if problems:
        print("netns: not loopback-only: " + "; ".join(problems), file=sys.stderr)
        return ISOLATION_BROKEN
    for spec in forwards:
        port, _, path = spec.partition("=")
        try:
            listener = _listen(int(port))
        except OSError as exc:
            print(f"netns: cannot relay port {port}: {exc}", file=sys.stderr)
            return ISOLATION_BROKEN
        threading.Thread(target=_relay, args=(listener, path), daemon=True).start()
    if sink is not None:
        _sink(sink)
    child = subprocess.Popen(list(argv))

    def forward_signal(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward_signal)
    return child.wait()


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a command loopback-only (inside unshare -n).")
    parser.add_argument("--forward", action="append", default=[], metavar="PORT=SOCKET")
    parser.add_argument("--sink", type=int, default=None, metavar="PORT")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    argv = ns.argv[1:] if ns.argv[:1] == ["--"] else ns.argv
    if not argv:
        parser.error("no command given")
    return _run_inside(ns.forward, argv, ns.sink)


if __name__ == "__main__":
    sys.exit(main())
