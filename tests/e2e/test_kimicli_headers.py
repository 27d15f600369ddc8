"""Under preset ``kimi-cli``, kimibridge's chat headers equal what the real kimi-cli sends.

The real kimi-cli (PyPI 1.52.0, run through its Typer CLI, never the ``kimi`` stub) does one
``--print`` turn against the emulator on this machine with a static key and the same
``KIMI_SHARE_DIR``; kimibridge then sends a chat request with ``build_identity("kimi-cli")``.
The emulator records both, and every header must match except the ones the two HTTP stacks set
for themselves (listed in ``TRANSPORT_HEADERS`` and the ``X-Stainless-*`` family of the OpenAI
SDK kimi-cli uses).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from kimibridge.kimi.identity import build_identity
from kimibridge.kimi.tokens import Credential
from kimibridge.kimi.upstream import KimiUpstream
from kimibridge.kimi.versions import KIMI_CLI_VERSION
from kimibridge.testing import EmulatorHandle
from tests.clients import INSTALL_HINT, kimi_cli_python

pytestmark = pytest.mark.e2e

KEY = "sk-kimi-e2e-headers"
MODEL = "kimi-for-coding"

# Set by each side's HTTP client, not by the identity: openai-python + httpx on kimi-cli's side,
# aiohttp on ours.
TRANSPORT_HEADERS = frozenset({"host", "connection", "accept", "accept-encoding", "content-length"})
SDK_PREFIXES = ("x-stainless-",)

# Python 3.12.1's typing lets a TypeError escape when it sets ``__orig_class__`` on a frozen,
# slotted PEP 695 generic dataclass (kimi-cli's SlashCommand); later Pythons swallow it. The
# launcher applies the later behaviour, then runs kimi-cli's own Typer entry point
# (``kimi_cli.cli.__main__``), not the 1.52.0 deprecation stub.
LAUNCHER = textwrap.dedent(
    """
    import sys, typing

    def _call(self, *args, **kwargs):
        if not self._inst:
            raise TypeError(f"Type {self._name} cannot be instantiated")
        result = self.__origin__(*args, **kwargs)
        try:
            result.__orig_class__ = self
        except (AttributeError, TypeError):
            pass
        return result

    typing._BaseGenericAlias.__call__ = _call
    from kimi_cli.cli.__main__ import main
    raise SystemExit(main(sys.argv[1:]))
    """
)

# kimi-cli's web tools import trafilatura, which needs lxml's separate html_clean package; the
# turn needs no web tools, so the agent leaves them out instead of depending on that install.
AGENT = textwrap.dedent(
    """
    version: 1
    agent:
      extend: default
      exclude_tools:
        - "kimi_cli.tools.web:SearchWeb"
        - "kimi_cli.tools.web:FetchURL"
    """
)


class _StaticKey:
    async def current(self) -> Credential:
        return Credential(KEY, "api_key", "mainland")

    async def after_unauthorized(self, rejected: Credential) -> Credential:
        raise AssertionError("the emulator accepts this key")


def _compared(headers: object) -> dict[str, str]:
    items = headers.items()  # type: ignore[attr-defined]
    return {
        name.lower(): value
        for name, value in items
        if name.lower() not in TRANSPORT_HEADERS and not name.lower().startswith(SDK_PREFIXES)
    }


def _installed_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('kimi-cli'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        pytest.skip(f"kimi-cli is not installed in {python.parent.parent}; {INSTALL_HINT}")
    return out.stdout.strip()


def _run_kimi_cli(python: Path, kimi: EmulatorHandle, root: Path) -> None:
    home, share, work = root / "home", root / "share", root / "work"
    for path in (home, share, work):
        path.mkdir(parents=True, exist_ok=True)
    (share / "config.toml").write_text("telemetry = false\n")
    (root / "launch.py").write_text(LAUNCHER)
    (root / "agent.yaml").write_text(AGENT)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "KIMI_SHARE_DIR": str(share),
        "KIMI_DISABLE_TELEMETRY": "1",
        "KIMI_CLI_NO_AUTO_UPDATE": "1",
        "KIMI_BASE_URL": kimi.base_url,
        "KIMI_API_KEY": KEY,
        "KIMI_MODEL_NAME": MODEL,
    }
    argv = [str(root / "launch.py"), "--print", "-p", "say hi", "--agent-file"]
    result = subprocess.run(
        [str(python), *argv, str(root / "agent.yaml")],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]


async def test_kimi_cli_preset_matches_the_real_kimi_cli(
    kimi_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    python = kimi_cli_python()
    assert _installed_version(python) == KIMI_CLI_VERSION, (
        "the pinned kimi-cli version (kimi.versions) must equal the installed kimi-cli's"
    )
    kimi_emulator.add_api_key(KEY)
    _run_kimi_cli(python, kimi_emulator, tmp_path)
    theirs = [r for r in kimi_emulator.requests if r.path.endswith("/chat/completions")]
    assert theirs, [r.path for r in kimi_emulator.requests]
    kimi_emulator.clear_requests()

    environ = {"HOME": str(tmp_path / "home"), "KIMI_SHARE_DIR": str(tmp_path / "share")}
    identity = build_identity("kimi-cli", environ=environ)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "say hi"}], "stream": True}
    async with KimiUpstream(kimi_emulator.base_url, _StaticKey(), identity) as upstream:
        stream = await upstream.chat_completions(
            body, stream=True, caller_headers={"User-Agent": "claude-cli/2.1.330"}
        )
        async with stream:
            async for _ in stream:
                pass
    (ours,) = kimi_emulator.requests

    expected = _compared(theirs[0].headers)
    got = _compared(ours.headers)
    assert got == expected
    # What the comparison covered, so a silent drop on both sides cannot pass.
    assert expected["user-agent"] == f"KimiCLI/{KIMI_CLI_VERSION}"
    assert {n for n in expected if n.startswith("x-msh-")} == {
        "x-msh-platform",
        "x-msh-version",
        "x-msh-device-name",
        "x-msh-device-model",
        "x-msh-os-version",
        "x-msh-device-id",
    }
    device_id = (tmp_path / "share" / "device_id").read_text()
    assert expected["x-msh-device-id"] == device_id
