"""How much the gateway adds: latency, stream time to first byte, throughput, CPU per request.

    python bench/gateway.py [--rounds 4] [--seconds 2]

Starts the emulator (`kimibridge emulator`) and the gateway (`kimibridge serve`, identity
preset `kimibridge`, API key upstream) as two processes on 127.0.0.1, then measures, in one run
and alternating direct/gateway phases (ABBA) over several rounds as reference/performance.md
asks:

- non-stream latency at concurrency 1 (request sent -> body read), p50 and p99;
- stream time to first body byte at concurrency 1;
- throughput at concurrency 1, 16 and 64 (closed loop), non-stream;
- gateway CPU milliseconds per request (from /proc), the least noisy figure.

"direct" is the same request straight to the emulator; requests ask for thinking off so both
paths get the same answer. A request counts only with status 200 and a complete body.
Prints a table and writes it into docs/performance.md (``--no-docs`` to skip); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from _docs import write_section

EMULATOR_KEY = "sk-kimi-emulator-local-key"
UA = "kimibridge/bench"
OPENAI_BODY = {
    "model": "kimi-for-coding",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hi"},
    ],
    "thinking": {"type": "disabled"},
    "max_tokens": 256,
}
ANTHROPIC_BODY = {
    "model": "kimi-for-coding",
    "max_tokens": 256,
    "thinking": {"type": "disabled"},
    "system": "You are terse.",
    "messages": [{"role": "user", "content": "hi"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


class Target:
    def __init__(self, name: str, url: str, headers: dict[str, str]) -> None:
        self.name = name
        self.url = url
        self.headers = headers


async def one(
    session: aiohttp.ClientSession, t: Target, body: bytes, stream: bool
) -> tuple[float, float]:
    """(total ms, first-byte ms); raises on anything but a complete 200."""
    start = time.perf_counter()
    async with session.post(t.url, data=body, headers=t.headers) as r:
        if r.status != 200:
            raise RuntimeError(f"{t.name}: {r.status} {await r.text()}")
        first = None
        data = b""
        async for chunk in r.content.iter_any():
            if first is None:
                first = time.perf_counter()
            data += chunk
    end = time.perf_counter()
    if stream and not (data.rstrip().endswith(b"[DONE]") or b"message_stop" in data[-200:]):
        raise RuntimeError(f"{t.name}: stream without its terminator")
    return (end - start) * 1000, ((first or end) - start) * 1000


async def closed_loop(
    session: aiohttp.ClientSession, t: Target, body: bytes, stream: bool, conc: int, seconds: float
) -> tuple[list[float], list[float], float]:
    lat: list[float] = []
    ttfb: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop:
            total, first = await one(session, t, body, stream)
            lat.append(total)
            ttfb.append(first)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return lat, ttfb, len(lat) / (time.perf_counter() - began)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}..{max(values):.3f}]"


async def measure(
    args: argparse.Namespace, direct: dict[str, Target], gw: dict[str, Target], gw_pid: int
) -> tuple[list[tuple[str, str, str, str, str]], list[str]]:
    bodies = {
        "openai": json.dumps(OPENAI_BODY).encode(),
        "anthropic": json.dumps(ANTHROPIC_BODY).encode(),
    }
    stream_bodies = {
        "openai": json.dumps({**OPENAI_BODY, "stream": True}).encode(),
        "anthropic": json.dumps({**ANTHROPIC_BODY, "stream": True}).encode(),
    }
    connector = aiohttp.TCPConnector(limit=256)
    rows: list[tuple[str, str, str, str, str]] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm both paths
        for t in (*direct.values(), *gw.values()):
            for _ in range(50):
                await one(
                    session, t, bodies["anthropic" if "messages" in t.url else "openai"], False
                )

        async def abba(
            label: str,
            run: Callable[[Target], Awaitable[tuple[float, float]]],
            paths: tuple[str, str],
        ) -> None:
            d_vals: list[float] = []
            g_vals: list[float] = []
            over: list[float] = []
            for r in range(args.rounds):
                order = (0, 1) if r % 2 == 0 else (1, 0)
                got: dict[int, float] = {}
                for i in order:
                    t = direct[paths[0]] if i == 0 else gw[paths[1]]
                    got[i] = (await run(t))[0]
                d_vals.append(got[0])
                g_vals.append(got[1])
                over.append(got[1] - got[0])
            ratio = statistics.median(g_vals) / statistics.median(d_vals)
            rows.append((label, fmt(d_vals), fmt(g_vals), fmt(over), f"{ratio:.2f}"))

        def lat_runner(
            q: float, stream: bool, dialect: str
        ) -> Callable[[Target], Awaitable[tuple[float, float]]]:
            async def run(t: Target) -> tuple[float, float]:
                body = (stream_bodies if stream else bodies)[dialect]
                lat, ttfb, _ = await closed_loop(session, t, body, stream, 1, args.seconds)
                return pct(ttfb if stream else lat, q), 0.0

            return run

        def rps_runner(conc: int) -> Callable[[Target], Awaitable[tuple[float, float]]]:
            async def run(t: Target) -> tuple[float, float]:
                _, _, rps = await closed_loop(
                    session, t, bodies["openai"], False, conc, args.seconds
                )
                return rps, 0.0

            return run

        same = ("openai", "openai")
        await abba("OpenAI->OpenAI non-stream p50 ms, c=1", lat_runner(0.5, False, "openai"), same)
        await abba("OpenAI->OpenAI non-stream p99 ms, c=1", lat_runner(0.99, False, "openai"), same)
        await abba("OpenAI->OpenAI stream TTFB p50 ms, c=1", lat_runner(0.5, True, "openai"), same)
        await abba("OpenAI->OpenAI stream TTFB p99 ms, c=1", lat_runner(0.99, True, "openai"), same)
        cross = ("openai", "anthropic")
        await abba(
            "Anthropic->OpenAI non-stream p50 ms, c=1*", lat_runner(0.5, False, "anthropic"), cross
        )
        await abba(
            "Anthropic->OpenAI stream TTFB p50 ms, c=1*", lat_runner(0.5, True, "anthropic"), cross
        )
        for conc in (1, 16, 64):
            await abba(f"throughput rps, c={conc} (overhead = rps lost)", rps_runner(conc), same)
        # CPU per gateway request
        before = cpu_ms(gw_pid)
        lat, _, _ = await closed_loop(
            session, gw["openai"], bodies["openai"], False, 16, args.seconds
        )
        cpu_openai = (cpu_ms(gw_pid) - before) / len(lat)
        before = cpu_ms(gw_pid)
        lat, _, _ = await closed_loop(
            session, gw["anthropic"], stream_bodies["anthropic"], True, 16, args.seconds
        )
        cpu_cross = (cpu_ms(gw_pid) - before) / len(lat)

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'direct':<30}{'gateway':<30}{'gateway - direct':<30}ratio")
    for label, d, g, o, ratio in rows:
        print(f"{label:<{width}}  {d:<30}{g:<30}{o:<30}{ratio}")
    notes = [
        "* the direct column is the emulator's OpenAI side for the same prompt "
        "(Anthropic client, translated).",
        f"gateway CPU per request: OpenAI->OpenAI non-stream {cpu_openai:.3f} ms, "
        f"Anthropic->OpenAI stream {cpu_cross:.3f} ms",
        f"medians over {args.rounds} rounds [min..max]; each cell one closed-loop phase of "
        f"{args.seconds} s; ratio = gateway / direct",
    ]
    print("\n".join(notes))
    return rows, notes


def markdown(
    app: list[tuple[str, float]],
    rows: list[tuple[str, str, str, str, str]],
    notes: list[str],
    command: str,
) -> str:
    from _docs import machine_line

    lines = [f"`{command}`", "", machine_line(), ""]
    lines += ["| gateway code per request (ASGI app, in-memory upstream) | µs |", "|---|---|"]
    lines += [f"| {label} | {micros:.0f} |" for label, micros in app]
    if rows:
        lines += [
            "",
            "| measure | direct | gateway | gateway − direct | ratio |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(r)} |" for r in rows]
        lines += ["", *[f"{n}  " for n in notes]]
    return "\n".join(lines)


# ------------------------------------------------------------------------ the app alone


def _kimi_stream(chunks: int) -> list[bytes]:
    base = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "kimi-for-coding",
    }
    out = [
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
    ]
    out += [
        {
            **base,
            "choices": [{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}],
        }
        for i in range(chunks)
    ]
    usage = {
        "prompt_tokens": 20,
        "completion_tokens": chunks,
        "total_tokens": 20 + chunks,
        "cached_tokens": 0,
    }
    out.append(
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}]}
    )
    return [b"data: " + json.dumps(c).encode() + b"\n\n" for c in out] + [b"data: [DONE]\n\n"]


class _FakeStream:
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    def __aiter__(self) -> Any:
        return self._gen()

    async def _gen(self) -> Any:
        for part in self.parts:
            yield part

    async def aclose(self) -> None:
        return None


class _FakeUpstream:
    """Kimi answering instantly from memory: what is left is the gateway's own work."""

    def __init__(self) -> None:
        from kimibridge.kimi.upstream import UpstreamReply

        self.stream_parts = _kimi_stream(20)
        message = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "kimi-for-coding",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello there, this is an answer."},
                    "finish_reason": "stop",
                    "usage": {
                        "prompt_tokens": 20,
                        "completion_tokens": 8,
                        "total_tokens": 28,
                        "cached_tokens": 0,
                    },
                }
            ],
        }
        self.reply = UpstreamReply(200, {}, json.dumps(message).encode())

    async def chat_completions(
        self, body: bytes, *, stream: bool, caller_headers: Any = None
    ) -> Any:
        return _FakeStream(self.stream_parts) if stream else self.reply

    async def messages(self, body: bytes, *, stream: bool, caller_headers: Any = None) -> Any:
        raise NotImplementedError

    async def count_tokens(self, body: bytes, *, caller_headers: Any = None) -> Any:
        raise NotImplementedError

    async def models(self, *, caller_headers: Any = None) -> Any:
        raise NotImplementedError

    async def files(
        self,
        data: bytes,
        *,
        mime: str,
        purpose: str = "video",
        filename: str | None = None,
        caller_headers: Any = None,
    ) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def _drive(
    gw: Any, headers: list[tuple[bytes, bytes]], path: str, raw: bytes, n: int
) -> float:
    """Seconds for ``n`` requests through the ASGI app; each must answer 200."""
    sent: list[Any] = []
    received = [False]

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        if not received[0]:
            received[0] = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # the client never hangs up
        return {}

    began = time.perf_counter()
    for _ in range(n):
        received[0] = False
        sent.clear()
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": headers,
            "query_string": b"",
        }
        await gw(scope, receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(sent[:2])
    return time.perf_counter() - began


async def app_only(n: int) -> list[tuple[str, float]]:
    """Microseconds of gateway code per request: the ASGI app called directly, no sockets."""
    from kimibridge.gateway import EventBus, Gateway, LocalKeys

    keys = LocalKeys.load_or_create(Path(tempfile.mkdtemp(prefix="kb-app-")))
    gw = Gateway(_FakeUpstream(), keys, events=EventBus())
    headers = [
        (b"host", b"127.0.0.1:8765"),
        (b"x-api-key", keys.default.encode()),
        (b"user-agent", UA.encode()),
    ]
    results = []
    cases = [
        ("OpenAI->OpenAI non-stream", "/v1/chat/completions", OPENAI_BODY),
        (
            "OpenAI->OpenAI stream (22 chunks)",
            "/v1/chat/completions",
            {**OPENAI_BODY, "stream": True},
        ),
        ("Anthropic->OpenAI non-stream", "/v1/messages", ANTHROPIC_BODY),
        (
            "Anthropic->OpenAI stream (22 chunks)",
            "/v1/messages",
            {**ANTHROPIC_BODY, "stream": True},
        ),
    ]
    for label, path, body in cases:
        elapsed = 0.0
        for phase in (n // 5, n):  # a warm-up phase, then the measured one
            elapsed = await _drive(gw, headers, path, json.dumps(body).encode(), phase)
        results.append((label, elapsed / n * 1e6))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--app-only", action="store_true", help="Only the in-process app measure.")
    parser.add_argument(
        "--no-docs", action="store_true", help="Do not write the results into docs/performance.md."
    )
    args = parser.parse_args()
    command = "python bench/gateway.py " + " ".join(sys.argv[1:])

    app = asyncio.run(app_only(3000))
    for label, micros in app:
        print(f"gateway code per request, {label}: {micros:.0f} us (ASGI app, in-memory upstream)")
    if args.app_only:
        return

    home = tempfile.mkdtemp(prefix="kb-bench-")
    emu_port, gw_port = free_port(), free_port()
    env = {**os.environ, "KIMIBRIDGE_HOME": home}
    emu = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "emulator", "--port", str(emu_port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{emu_port}/coding/v1"
    gw_env = {
        **env,
        "KIMI_API_KEY": EMULATOR_KEY,
        "KIMI_CODE_BASE_URL": base,
        "KIMIBRIDGE_IDENTITY": "kimibridge",
    }
    gw = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "serve", "--port", str(gw_port), "--no-ledger"],
        env=gw_env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{gw_port}/health")
        key = subprocess.run(
            [sys.executable, "-m", "kimibridge", "key"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        up = {
            "authorization": f"Bearer {EMULATOR_KEY}",
            "user-agent": UA,
            "content-type": "application/json",
        }
        local = {"x-api-key": key, "user-agent": UA, "content-type": "application/json"}
        direct = {
            "openai": Target("direct", f"{base}/chat/completions", up),
            "anthropic": Target("direct-anthropic", f"{base}/messages", up),
        }
        via = {
            "openai": Target("gateway", f"http://127.0.0.1:{gw_port}/v1/chat/completions", local),
            "anthropic": Target(
                "gateway-anthropic", f"http://127.0.0.1:{gw_port}/v1/messages", local
            ),
        }
        try:
            import uvloop

            rows, notes = uvloop.run(measure(args, direct, via, gw.pid))
        except ImportError:
            rows, notes = asyncio.run(measure(args, direct, via, gw.pid))
        if not args.no_docs:
            write_section("gateway", markdown(app, rows, notes, command.strip()))
    finally:
        for proc in (gw, emu):
            proc.terminate()
        for proc in (gw, emu):
            proc.wait(10)


if __name__ == "__main__":
    main()
