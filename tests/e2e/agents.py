"""Drive the real agent CLIs offline, one non-interactive run at a time.

Each builder (``claude_code``, ``pi``, ``opencode``, ``kimi_cli``) returns an ``AgentCommand``: the
argv, a clean environment (nothing inherited from the test process but ``PATH``) with a fresh home
and config dir under ``root``, and every switch ``reference/real-clients.md`` found that keeps the
client off the network (telemetry, auto-update, non-essential traffic, models.dev, the npm
registry). ``run_agent`` runs it:

- inside a loopback-only network namespace (``tests/e2e/netns.py``): the test's servers are carried
  in through Unix sockets, anything else cannot be reached;
- under ``strace`` (connect/sendto/sendmsg only, via seccomp-bpf so it stays cheap), so every
  address the client *tried* is known: ``AgentResult.outside_connects`` lists attempts beyond
  loopback (and DNS lookups), which the namespace made fail silently. Tests assert it is empty.

See ``docs/testing.md`` for what each switch does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.clients import kimi_cli_python, npm_bin, require_loopback_sandbox, require_tool
from tests.e2e.netns import ISOLATION_BROKEN, UnixBridge, sandbox_argv

__all__ = [
    "NPM_SINK_PORT",
    "AgentCommand",
    "AgentResult",
    "Connect",
    "arun_agent",
    "claude_code",
    "kimi_cli",
    "openai_tool_results",
    "opencode",
    "parse_strace",
    "pi",
    "run_agent",
]

DEFAULT_TIMEOUT = 240.0  # seconds; a run takes 1-10 s, this only stops a hung client
# A port inside the namespace that answers every HTTP request with 404 (netns.py --sink): opencode's
# embedded npm asks the registry for @opencode-ai/plugin on a fresh HOME and carries on after a 404.
# The namespace has its own ports, so only a forwarded port can collide (then the next one is used).
NPM_SINK_PORT = 48_999
_SKIP_SNAPSHOT = frozenset({".git", "node_modules", "__pycache__"})


@dataclass(frozen=True, slots=True)
class AgentCommand:
    """One offline, non-interactive run of a client, ready for ``run_agent``."""

    client: str  # claude-code | pi | opencode | kimi-cli
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path  # the work dir the client runs in (where its tools write)
    home: Path  # the fresh HOME / config root made for this run
    ports: tuple[int, ...]  # loopback ports of the servers the client must reach
    sink_port: int | None = None  # serve a 404-everything HTTP sink on this port inside the sandbox


@dataclass(frozen=True, slots=True)
class Connect:
    """One network syscall the client made (from strace)."""

    syscall: str  # connect | sendto | sendmsg
    family: str  # AF_INET | AF_INET6
    address: str
    port: int
    result: str  # "0", "-1 ENETUNREACH (...)", ...

    @property
    def outside(self) -> bool:
        """Beyond loopback, or a DNS lookup (a resolver on 127.0.0.53 is still a lookup)."""
        if self.port == 53:
            return True
        addr = ip_address(self.address)
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return not (addr.is_loopback or addr.is_unspecified)

    def __str__(self) -> str:
        return f"{self.syscall} {self.family} {self.address}:{self.port} = {self.result}"


@dataclass(slots=True)
class AgentResult:
    command: AgentCommand
    returncode: int
    stdout: str
    stderr: str
    written: dict[str, bytes]  # files created or changed under cwd, by relative path
    connects: list[Connect] = field(default_factory=list)

    @property
    def outside_connects(self) -> list[Connect]:
        return [c for c in self.connects if c.outside]

    def json_lines(self) -> list[dict[str, Any]]:
        """stdout parsed as JSON Lines (stream-json / --mode json output); other lines skipped."""
        events: list[dict[str, Any]] = []
        for line in self.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    value = json.loads(line)
                    if isinstance(value, dict):
                        events.append(value)
        return events

    def describe(self) -> str:
        """For assertion messages: what happened, output tails included."""
        return (
            f"{self.command.client} exited {self.returncode}\n"
            f"argv: {list(self.command.argv)}\n"
            f"--- stdout (tail) ---\n{self.stdout[-4000:]}\n"
            f"--- stderr (tail) ---\n{self.stderr[-4000:]}\n"
            f"--- outside connects ---\n" + "\n".join(map(str, self.outside_connects))
        )


# ---------------------------------------------------------------------------------------------
# Environments


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"e2e clients may only talk to loopback, not {url}")
    return parts.port or 80


def _base_env(home: Path) -> dict[str, str]:
    """A clean environment: nothing from the test process leaks in (no real ANTHROPIC_*, KIMI_*)."""
    node = shutil.which("node")
    path = [str(Path(node).parent)] if node else []
    path += ["/usr/local/bin", "/usr/bin", "/bin"]
    return {
        "PATH": os.pathsep.join(dict.fromkeys(path)),
        "HOME": str(home),
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
    }


def _dirs(root: Path, name: str) -> tuple[Path, Path]:
    home = root / f"{name}-home"
    work = root / f"{name}-work"
    home.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    return home, work


def claude_code(
    root: Path,
    base_url: str,
    api_key: str,
    prompt: str,
    *,
    model: str | None = None,
    extra_args: Sequence[str] = (),
    auth_token: bool = False,
    max_retries: int | None = None,
) -> AgentCommand:
    """Claude Code 2.1.330 in print mode (real-clients.md §1), tools allowed without asking.

    ``base_url`` is the Anthropic base without ``/v1`` (Claude Code posts to
    ``{base_url}/v1/messages?beta=true``). ``auth_token`` sends the key as ``Authorization: Bearer``
    (``ANTHROPIC_AUTH_TOKEN``) instead of ``x-api-key``. With ``model`` unset Claude Code sends its own
    model ids (``claude-opus-5-5``, ...). ``max_retries`` sets ``CLAUDE_CODE_MAX_RETRIES`` (Claude
    Code's default keeps retrying a 401 for about three minutes).
    """
    home, work = _dirs(root, "claude")
    config = home / ".claude"
    config.mkdir(exist_ok=True)
    env = _base_env(home)
    env.update(
        {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_AUTH_TOKEN" if auth_token else "ANTHROPIC_API_KEY": api_key,
            "CLAUDE_CONFIG_DIR": str(config),  # fresh: no onboarding needed in -p mode
            # No /api/hello probe, no outside DNS (real-clients.md §1 "Network behaviour").
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            # --dangerously-skip-permissions is refused as root (and under unshare -r) without it.
            "IS_SANDBOX": "1",
        }
    )
    if max_retries is not None:
        env["CLAUDE_CODE_MAX_RETRIES"] = str(max_retries)
    if model is not None:
        env["ANTHROPIC_MODEL"] = model
        env["ANTHROPIC_SMALL_FAST_MODEL"] = model
        for tier in ("HAIKU", "SONNET", "OPUS"):
            env[f"ANTHROPIC_DEFAULT_{tier}_MODEL"] = model
    argv = [
        str(npm_bin("claude")),
        "-p",
        prompt,
        "--output-format",
        "stream-json",
        "--verbose",  # stream-json requires it in print mode
        "--dangerously-skip-permissions",  # else -p turns the Bash call into an error result
        *(["--model", model] if model is not None else []),
        *extra_args,
    ]
    return AgentCommand("claude-code", tuple(argv), env, work, home, (_port_of(base_url),))


def pi(
    root: Path,
    base_url: str,
    api_key: str,
    prompt: str,
    *,
    model: str = "kimi-for-coding",
    headers: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> AgentCommand:
    """pi 0.73.1 in print mode with an OpenAI-compatible provider ``kimibridge`` (real-clients.md §2).

    ``base_url`` is the OpenAI base (pi posts to ``{base_url}/chat/completions``). pi sends
    ``User-Agent: OpenAI/JS …``; pass ``headers={"User-Agent": "pi/0.73.1"}`` to reach a server that
    gates on coding-agent User-Agents. ``api_key`` must not be the name of an environment variable
    (pi would dereference it).
    """
    home, work = _dirs(root, "pi")
    agent_dir = home / ".pi" / "agent"
    agent_dir.mkdir(parents=True, exist_ok=True)
    provider: dict[str, Any] = {
        "baseUrl": base_url,
        "api": "openai-completions",
        "apiKey": api_key,
        "models": [{"id": model, "contextWindow": 262_144, "maxTokens": 32_768}],
    }
    if headers:
        provider["headers"] = dict(headers)
    (agent_dir / "models.json").write_text(
        json.dumps({"providers": {"kimibridge": provider}}, indent=2)
    )
    env = _base_env(home)
    env.update(
        {
            "PI_CODING_AGENT_DIR": str(agent_dir),
            "PI_OFFLINE": "1",  # no version check, no install telemetry, no package checks
            "PI_SKIP_VERSION_CHECK": "1",
            "PI_TELEMETRY": "0",
        }
    )
    argv = [
        str(npm_bin("pi")),
        "-p",
        prompt,
        "--provider",
        "kimibridge",
        "--model",
        model,
        "--no-session",
        "--mode",
        "json",
        *extra_args,
    ]
    return AgentCommand("pi", tuple(argv), env, work, home, (_port_of(base_url),))


def opencode(
    root: Path,
    base_url: str,
    api_key: str,
    prompt: Sequence[str],
    *,
    model: str = "kimi-for-coding",
    small_model: str | None = None,
    extra_args: Sequence[str] = (),
) -> AgentCommand:
    """opencode 1.18.33 ``run`` with an ``@ai-sdk/openai-compatible`` provider (real-clients.md §3).

    ``prompt`` is a list of words: opencode quotes a single argument that contains spaces.
    ``base_url`` is the OpenAI base. The npm registry points at a 404 sink inside the sandbox.
    """
    home, work = _dirs(root, "opencode")
    port = _port_of(base_url)
    sink = NPM_SINK_PORT if port != NPM_SINK_PORT else NPM_SINK_PORT + 1
    small = small_model or model
    config = {
        "$schema": "https://opencode.ai/config.json",
        "model": f"kimibridge/{model}",
        "small_model": f"kimibridge/{small}",
        "autoupdate": False,
        "share": "disabled",
        "provider": {
            "kimibridge": {
                "npm": "@ai-sdk/openai-compatible",  # bundled in the binary: nothing downloaded
                "name": "kimibridge",
                "options": {"baseURL": base_url, "apiKey": api_key},
                "models": {name: {} for name in dict.fromkeys([model, small])},
            }
        },
    }
    env = _base_env(home)
    env.update(
        {
            "OPENCODE_CONFIG_CONTENT": json.dumps(config),
            "OPENCODE_DISABLE_MODELS_FETCH": "1",  # else models.dev is fetched
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_SHARE": "1",
            # The packument GET for @opencode-ai/plugin survives every other switch.
            "NPM_CONFIG_REGISTRY": f"http://127.0.0.1:{sink}/",
        }
    )
    argv = [str(npm_bin("opencode")), "run", "--format", "json", *extra_args, *prompt]
    return AgentCommand("opencode", tuple(argv), env, work, home, (port,), sink)


def kimi_cli(
    root: Path,
    base_url: str,
    api_key: str,
    prompt: str,
    *,
    model: str = "kimi-for-coding",
    provider_type: str = "kimi",
    max_context_size: int = 262_144,
    extra_args: Sequence[str] = (),
) -> AgentCommand:
    """kimi-cli 1.52.0 as ``python -m kimi_cli.cli --print`` (real-clients.md §4).

    Never the ``kimi`` console script: without arguments it runs ``curl … | bash``. ``base_url`` is the
    OpenAI base (kimi-cli posts to ``{base_url}/chat/completions``). ``provider_type = "kimi"`` sends
    ``KimiCLI/1.52.0`` and the X-Msh-* headers; ``"openai_legacy"`` a plain OpenAI SDK request.
    """
    home, work = _dirs(root, "kimi")
    share = home / ".kimi"
    share.mkdir(exist_ok=True)
    (share / "config.toml").write_text(
        f"default_model = {json.dumps(model)}\n"
        "telemetry = false\n"
        "\n[providers.kimibridge]\n"
        f"type = {json.dumps(provider_type)}\n"
        f"base_url = {json.dumps(base_url)}\n"
        f"api_key = {json.dumps(api_key)}\n"
        f"\n[models.{json.dumps(model)}]\n"
        'provider = "kimibridge"\n'
        f"model = {json.dumps(model)}\n"
        f"max_context_size = {max_context_size}\n"
    )
    env = _base_env(home)
    env.update(
        {
            "KIMI_SHARE_DIR": str(share),
            "KIMI_CLI_NO_AUTO_UPDATE": "1",  # no cdn.kimi.com check, no "install Kimi Code" gate
        }
    )
    argv = [
        str(kimi_cli_python()),
        "-m",
        "kimi_cli.cli",
        "--print",
        "--output-format",
        "stream-json",
        "-p",
        prompt,
        *extra_args,
    ]
    return AgentCommand("kimi-cli", tuple(argv), env, work, home, (_port_of(base_url),))


def openai_tool_results(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``role: tool`` messages of an OpenAI chat request body."""
    messages = body.get("messages") or []
    return [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]


# ---------------------------------------------------------------------------------------------
# Running

_SOCKADDR = re.compile(
    r"^(?:\d+\s+)?(?P<syscall>connect|sendto|sendmsg)\(.*?"
    r"sa_family=(?P<family>AF_INET6?),\s*sin6?_port=htons\((?P<port>\d+)\),\s*"
    r"(?:sin6_flowinfo=[^,]*,\s*)?"
    r"(?:sin_addr=inet_addr\(\"(?P<v4>[^\"]+)\"\)|inet_pton\(AF_INET6,\s*\"(?P<v6>[^\"]+)\"(?:,\s*&sin6_addr)?\))"
    r".*=\s*(?P<result>-?\d+.*)$"
)


def parse_strace(text: str) -> list[Connect]:
    """The AF_INET / AF_INET6 destinations in an ``strace -f -e trace=connect,sendto,sendmsg`` log."""
    found: list[Connect] = []
    for line in text.splitlines():
        m = _SOCKADDR.match(line.strip())
        if m is None:
            continue
        found.append(
            Connect(
                syscall=m["syscall"],
                family=m["family"],
                address=m["v4"] or m["v6"],
                port=int(m["port"]),
                result=m["result"].strip(),
            )
        )
    return found


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    state: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_SNAPSHOT]
        for name in filenames:
            path = Path(dirpath) / name
            with contextlib.suppress(OSError):
                st = path.lstat()
                state[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_size)
    return state


@contextlib.contextmanager
def _bridges(ports: Sequence[int]) -> Iterator[list[tuple[int, Path]]]:
    # Short path: a Unix socket path must fit in 108 bytes, pytest's tmp_path may not.
    with tempfile.TemporaryDirectory(prefix="kb-ns-") as tmp, contextlib.ExitStack() as stack:
        forwards: list[tuple[int, Path]] = []
        for port in dict.fromkeys(ports):
            sock = Path(tmp) / f"{port}.sock"
            stack.enter_context(UnixBridge(sock, port))
            forwards.append((port, sock))
        yield forwards


def run_agent(
    command: AgentCommand,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: str | None = None,
) -> AgentResult:
    """Run ``command`` loopback-only under strace; skip (with the reason) where that is impossible."""
    unshare = require_loopback_sandbox()
    strace = require_tool("strace")
    before = _snapshot(command.cwd)
    with tempfile.TemporaryDirectory(prefix="kb-strace-") as tmp, _bridges(command.ports) as fw:
        trace_log = Path(tmp) / "strace.log"
        traced = [
            strace,
            "-f",
            "-qq",
            "--seccomp-bpf",
            "-e",
            "trace=connect,sendto,sendmsg",
            "-e",
            "signal=none",
            "-o",
            str(trace_log),
            *command.argv,
        ]
        argv = sandbox_argv(unshare, fw, traced, sink_port=command.sink_port)
        proc = subprocess.Popen(
            argv,
            cwd=command.cwd,
            env=dict(command.env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # one process group: a timeout kills the client's children too
        )
        try:
            stdout, stderr = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            pytest.fail(
                f"{command.client} did not finish within {timeout:.0f} s\n"
                f"--- stdout ---\n{stdout[-4000:]}\n--- stderr ---\n{stderr[-4000:]}"
            )
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers (background shells, servers)
        connects = parse_strace(trace_log.read_text()) if trace_log.exists() else []
    if proc.returncode == ISOLATION_BROKEN and "netns:" in stderr:
        pytest.fail(f"the loopback-only sandbox could not be set up: {stderr.strip()}")
    after = _snapshot(command.cwd)
    written = {
        rel: (command.cwd / rel).read_bytes()
        for rel, stamp in after.items()
        if before.get(rel) != stamp
    }
    return AgentResult(command, proc.returncode, stdout, stderr, written, connects)


async def arun_agent(
    command: AgentCommand, *, run_timeout: float = DEFAULT_TIMEOUT, stdin: str | None = None
) -> AgentResult:
    """``run_agent`` from an async test: the blocking run goes to a thread, so a server on the
    test's own event loop (an in-process gateway) keeps answering the client meanwhile.
    ``run_timeout`` kills the client (the thread cannot be cancelled from outside)."""
    return await asyncio.to_thread(run_agent, command, timeout=run_timeout, stdin=stdin)
