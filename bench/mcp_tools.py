"""What `kimibridge mcp` costs a harness: start-up to the tool list, and per call.

Start-up matters because harnesses start their MCP servers with every session. Measured from
spawning the process to the answer of the first ``tools/list`` over stdio, with the official MCP
client, for:

- baseline: a bare server of the same SDK (``MCPServer`` with one no-op tool), the floor any
  Python MCP server pays (most of it importing the SDK);
- kimibridge: ``python -m kimibridge mcp``.

Per call: ``moonshot_search`` through the running stdio server against the emulator (signed in
with the OAuth device login), versus the same ``POST /search`` sent straight to the emulator
with aiohttp; the difference is what the MCP hop and kimibridge add.

    python bench/mcp_tools.py [--starts 8] [--calls 200] [--no-docs]

Writes its tables into docs/performance.md (section ``mcp-tools``) unless ``--no-docs``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _docs import machine_line, write_section
from mcp import Client, StdioServerParameters

from kimibridge.testing import run_emulator

BARE_SERVER = """
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare")
@server.tool()
def ping() -> str:
    return "pong"
server.run()
"""


def _params(argv: list[str], env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env)


async def _start_to_list(params: StdioServerParameters) -> float:
    began = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        return time.perf_counter() - began


def _ms(values: list[float], digits: int = 0) -> str:
    med, lo, hi = (v * 1000 for v in (statistics.median(values), min(values), max(values)))
    return f"{med:.{digits}f} [{lo:.{digits}f}..{hi:.{digits}f}]"


def _login(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kimibridge", "login", "--oauth", "--no-browser"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"login against the emulator failed: {done.stderr}")


async def _calls(
    params: StdioServerParameters, base_url: str, token: str, n: int
) -> tuple[list[float], list[float]]:
    import aiohttp

    body = {"text_query": "bench", "limit": 5, "enable_page_crawling": False, "timeout_seconds": 30}
    direct: list[float] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            began = time.perf_counter()
            async with http.post(
                base_url + "/search",
                json=body,
                headers={"Authorization": f"Bearer {token}", "User-Agent": "kimibridge/bench"},
            ) as reply:
                await reply.read()
                assert reply.status == 200, reply.status
            direct.append(time.perf_counter() - began)
    through: list[float] = []
    async with Client(params) as client:
        await client.call_tool("moonshot_search", {"query": "warm-up"})
        for _ in range(n):
            began = time.perf_counter()
            result = await client.call_tool("moonshot_search", {"query": "bench"})
            through.append(time.perf_counter() - began)
            assert not result.is_error
    return direct, through


async def main(starts: int, calls: int) -> str:
    with (
        tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp,
        run_emulator(poll_interval=0) as kimi,
    ):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "KIMIBRIDGE_HOME": str(Path(tmp) / ".kimibridge"),
            "KIMI_CODE_BASE_URL": kimi.base_url,
            "KIMI_CODE_OAUTH_HOST": kimi.oauth_host,
            "PYTHONWARNINGS": "ignore",
        }
        _login(env)
        bare = _params([sys.executable, "-c", BARE_SERVER], env)
        ours = _params([sys.executable, "-m", "kimibridge", "mcp"], env)
        bare_s, ours_s = [], []
        for _ in range(starts):  # interleaved, so load changes hit both alike
            bare_s.append(await _start_to_list(bare))
            ours_s.append(await _start_to_list(ours))
        token = kimi.issue_tokens().access_token
        direct, through = await _calls(ours, kimi.base_url, token, calls)
    ratio = statistics.median(ours_s) / statistics.median(bare_s)
    added = (statistics.median(through) - statistics.median(direct)) * 1000
    return "\n".join(
        [
            "`python bench/mcp_tools.py`",
            "",
            machine_line(),
            "",
            "| spawn → first tools/list over stdio, ms (median [min..max]) | baseline: bare SDK server | kimibridge mcp | ratio |",
            "|---|---|---|---|",
            f"| {starts} starts each, interleaved | {_ms(bare_s)} | {_ms(ours_s)} | {ratio:.2f} |",
            "",
            "| moonshot_search, ms per call (median [min..max]) | baseline: POST /search direct | through kimibridge mcp (stdio) | added |",
            "|---|---|---|---|",
            f"| {calls} sequential calls each | {_ms(direct, 2)} | {_ms(through, 2)} | {added:.2f} ms |",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=8)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-docs", action="store_true")
    opts = parser.parse_args()
    table = asyncio.run(main(opts.starts, opts.calls))
    print(table)
    if not opts.no_docs:
        write_section("mcp-tools", table)
