"""Issue 10 through the gateway as users run it (`kimibridge login`, then `kimibridge serve`):

- signed in with an API key only, every upstream request carries the calling agent's own
  User-Agent (kimibridge's own for the gateway's own catalog call) and no X-Msh-* / KimiCLI;
- after an explicit `login --oauth`, the kimi-cli identity is sent, across a restart;
- a 403 access_terminated_error reaches each dialect's SDK as its own error after one call;
- a global-region login is refused, before anything is sent, when the environment says mainland.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from kimibridge.emulator.faults import FaultKind
from kimibridge.testing import EmulatorHandle
from tests.integration.cli_account_helpers import (
    GOOD_KEY,
    api_requests,
    assert_no_secret,
    cli_env,
    kb,
    one_line,
    paths,
)
from tests.integration.gateway_env import GatewayEnv, gateway_env

pytestmark = pytest.mark.integration

CLAUDE_UA = "claude-cli/2.1.330 (external, sdk-cli)"
OPENCODE_UA = "opencode/1.18.33"


@contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[tuple[str, str]]:
    """`kimibridge serve --port 0 <args>` in its own process: (url, local key)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "serve", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pidfile = paths(env).state_dir / "gateway.json"
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {proc.stderr and proc.stderr.read()}")
            time.sleep(0.05)
        url = str(json.loads(pidfile.read_text())["url"])
        key = kb("key", env=env).stdout.strip()
        yield url, key
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        for _ in range(100):  # the next serve must not read this one's pidfile
            if not pidfile.exists():
                break
            time.sleep(0.05)
    assert "Traceback" not in err, err


def _drive_both_sdks(url: str, key: str) -> None:
    a = anthropic.Anthropic(
        base_url=url, api_key=key, max_retries=0, default_headers={"User-Agent": CLAUDE_UA}
    )
    with a:
        body: Any = {
            "model": "claude-opus-5-5",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": "hi"}],
        }
        assert a.messages.create(**body).content
        with a.messages.stream(**body) as s:
            assert s.get_final_message().content
        assert a.messages.count_tokens(model=body["model"], messages=body["messages"])
        assert list(a.models.list())
    o = openai.OpenAI(
        base_url=url + "/v1",
        api_key=key,
        max_retries=0,
        default_headers={"User-Agent": OPENCODE_UA},
    )
    with o:
        msgs: Any = [{"role": "user", "content": "hi"}]
        assert o.chat.completions.create(model="gpt-5", messages=msgs).choices
        assert list(o.chat.completions.create(model="gpt-5", messages=msgs, stream=True))


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_api_key_only_every_upstream_request_is_the_agents_own(
    kimi_emulator: EmulatorHandle, protocol: str
) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    assert kb("login", "--api-key-stdin", env=env, input=GOOD_KEY).returncode == 0
    kimi_emulator.clear_requests()
    with serving(env, "--upstream-protocol", protocol) as (url, key):
        _drive_both_sdks(url, key)
    sent = api_requests(kimi_emulator)
    model_route = "/chat/completions" if protocol == "openai" else "/messages"
    by_ua: dict[str, set[str]] = {}
    for r in sent:
        ua = r.headers.get("User-Agent", "")
        by_ua.setdefault(ua, set()).add(r.path.removeprefix("/coding/v1"))
        assert not [h for h in r.headers if h.lower().startswith("x-msh-")], r.path
        assert "KimiCLI" not in ua and r.headers["Authorization"] == f"Bearer {GOOD_KEY}"
    # Claude Code's and opencode's requests went out as theirs, on the configured protocol.
    assert model_route in by_ua[CLAUDE_UA] and "/messages/count_tokens" in by_ua[CLAUDE_UA]
    assert by_ua[OPENCODE_UA] == {model_route}
    # The gateway's own catalog call, made for no agent, says it is kimibridge.
    own = {ua: routes for ua, routes in by_ua.items() if ua.startswith("kimibridge/")}
    assert own and set().union(*own.values()) <= {"/models"}
    assert set(by_ua) == {CLAUDE_UA, OPENCODE_UA, *own}


@pytest.mark.kimi_emulator(poll_interval=1)
def test_after_oauth_the_kimi_cli_identity_is_sent_across_restarts(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = cli_env(kimi_emulator)
    login = kb("login", "--oauth", "--no-browser", env=env)
    assert login.returncode == 0, login.stderr
    for _ in range(2):  # a second serve process reads the choice back from disk
        kimi_emulator.clear_requests()
        with serving(env) as (url, key):
            o = openai.OpenAI(
                base_url=url + "/v1",
                api_key=key,
                max_retries=0,
                default_headers={"User-Agent": OPENCODE_UA},
            )
            with o:
                msgs: Any = [{"role": "user", "content": "hi"}]
                assert o.chat.completions.create(model="gpt-5", messages=msgs).choices
        [chat] = [r for r in kimi_emulator.requests if r.path.endswith("/chat/completions")]
        assert chat.headers["User-Agent"].startswith("KimiCLI/")
        assert chat.headers["X-Msh-Platform"] == "kimi_cli"
        assert len([h for h in chat.headers if h.lower().startswith("x-msh-")]) == 6
    info = json.loads(kb("status", "--json", env=env).stdout)
    assert info["risk"] is True and info["identity"]["preset"] == "kimi-cli"


@pytest.fixture
def gw(kimi_emulator: EmulatorHandle, tmp_path: Path) -> Iterator[GatewayEnv]:
    with gateway_env(kimi_emulator, tmp_path) as e:
        yield e


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_access_terminated_reaches_each_sdk_after_one_call(gw: GatewayEnv, stream: bool) -> None:
    def model_calls() -> int:
        return len([r for r in gw.kimi.requests if r.path.endswith(("/completions", "/messages"))])

    a = anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0)
    o = openai.OpenAI(base_url=gw.openai_base, api_key=gw.key, max_retries=0)
    errors: list[str] = []
    with a, o:
        gw.kimi.inject(FaultKind.ACCESS_TERMINATED)
        before = model_calls()
        with pytest.raises(anthropic.PermissionDeniedError) as a_info:
            a.messages.create(
                model="claude-x",
                max_tokens=50,
                messages=[{"role": "user", "content": "hi"}],
                stream=stream,
            )
        assert model_calls() == before + 1
        body: Any = a_info.value.body
        assert body["type"] == "error" and body["error"]["type"] == "permission_error"
        errors.append(body["error"]["message"])
        gw.kimi.inject(FaultKind.ACCESS_TERMINATED)
        before = model_calls()
        with pytest.raises(openai.PermissionDeniedError) as o_info:
            o.chat.completions.create(
                model="gpt-x", messages=[{"role": "user", "content": "hi"}], stream=stream
            )
        assert model_calls() == before + 1
        o_body: Any = o_info.value.body
        errors.append(o_body["message"])
        assert o_info.value.code == "access_terminated_error"
    for message in errors:  # the same one-line explanation the CLI prints
        assert "access_terminated_error" in message
        assert "not admitted" in message and "suspended" in message
        assert "\n" not in message


def test_a_global_login_is_refused_by_serve_when_the_environment_says_mainland(
    kimi_emulator: EmulatorHandle,
) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    login = kb("login", "--api-key-stdin", "--region", "global", env=env, input=GOOD_KEY)
    assert login.returncode == 0, login.stderr
    kimi_emulator.clear_requests()
    refused = kb("serve", "--port", "0", env={**env, "KIMIBRIDGE_REGION": "mainland"})
    assert refused.returncode == 1
    line = one_line(refused.stderr)
    assert "global region" in line and "mainland" in line
    assert_no_secret(refused, GOOD_KEY)
    assert kimi_emulator.requests == []
