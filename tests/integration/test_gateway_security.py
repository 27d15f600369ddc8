"""Local security, path variants, identity forwarding, attribution, ledger and turn events."""

from __future__ import annotations

import json
import stat
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from kimibridge.gateway.ledger import Ledger
from kimibridge.testing import EmulatorHandle
from tests.integration.gateway_env import GatewayEnv, gateway_env, http

pytestmark = pytest.mark.integration

A_BODY: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
O_BODY: dict[str, Any] = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json"}


@pytest.fixture
def env(kimi_emulator: EmulatorHandle, tmp_path: Path) -> Iterator[GatewayEnv]:
    with gateway_env(kimi_emulator, tmp_path) as e:
        yield e


def test_key_required_in_both_forms(env: GatewayEnv) -> None:
    body = json.dumps(A_BODY).encode()
    missing = http("POST", env.url + "/v1/messages", body, JSON)
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    wrong = http(
        "POST", env.url + "/v1/chat/completions", body, {**JSON, "authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert set(wrong.json()) == {"error"}
    ok1 = http("POST", env.url + "/v1/messages", body, {**JSON, "x-api-key": env.key})
    ok2 = http(
        "POST", env.url + "/v1/messages", body, {**JSON, "authorization": f"Bearer {env.key}"}
    )
    assert ok1.status_code == ok2.status_code == 200


def test_key_file_is_private(env: GatewayEnv, tmp_path: Path) -> None:
    path = env.gateway.keys.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"default": env.key}


def test_dns_rebinding_host_refused(env: GatewayEnv) -> None:
    resp = http(
        "GET", env.url + "/v1/models", None, {"x-api-key": env.key, "host": "attacker.example"}
    )
    assert resp.status_code == 403
    assert "Host" in resp.json()["error"]["message"]
    for host in ("localhost:1234", "127.0.0.1", "[::1]:99"):
        ok = http("GET", env.url + "/v1/models", None, {"x-api-key": env.key, "host": host})
        assert ok.status_code == 200, host


def test_liveness_routes_need_no_key(env: GatewayEnv) -> None:
    assert http("HEAD", env.url + "/").status_code == 200
    health = http("GET", env.url + "/health")
    assert health.json()["status"] == "ok"
    assert (
        http(
            "POST", env.url + "/api/event_logging/batch", b"{}", {"x-api-key": env.key}
        ).status_code
        == 200
    )


def test_prefixes_and_query_string(env: GatewayEnv) -> None:
    a = anthropic.Anthropic(base_url=env.url + "/anthropic", api_key=env.key, max_retries=0)
    assert a.messages.create(**A_BODY).content
    o = openai.OpenAI(base_url=env.url + "/openai/v1", api_key=env.key, max_retries=0)
    assert o.chat.completions.create(**O_BODY).choices[0].message.content
    body = json.dumps(A_BODY).encode()
    beta = http("POST", env.url + "/v1/messages?beta=true", body, {**JSON, "x-api-key": env.key})
    assert beta.status_code == 200
    count = http(
        "POST",
        env.url + "/v1/messages/count_tokens?beta=true",
        body,
        {**JSON, "x-api-key": env.key},
    )
    assert count.status_code == 200
    assert count.json()["input_tokens"] > 0


def test_models_in_both_dialects(env: GatewayEnv) -> None:
    o = openai.OpenAI(base_url=env.openai_base, api_key=env.key, max_retries=0)
    ids = [m.id for m in o.models.list()]
    assert "kimi-for-coding" in ids
    a = anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)
    assert "kimi-for-coding" in [m.id for m in a.models.list()]


def test_harness_identity_forwards_the_agents_user_agent(
    kimi_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    with gateway_env(kimi_emulator, tmp_path, preset="harness") as env:
        ua = "claude-cli/2.1.330 (external, sdk-cli)"
        a = anthropic.Anthropic(
            base_url=env.url, api_key=env.key, max_retries=0, default_headers={"User-Agent": ua}
        )
        assert a.messages.create(**A_BODY).content
        sent = env.kimi.requests[-1]
        assert sent.headers.get("User-Agent") == ua
        assert not [h for h in sent.headers if h.lower().startswith("x-msh-")]
        # an SDK's own UA is not a coding agent: Kimi's 403, in the client's dialect
        o = openai.OpenAI(base_url=env.openai_base, api_key=env.key, max_retries=0)
        with pytest.raises(openai.PermissionDeniedError) as info:
            o.chat.completions.create(**O_BODY)
        assert "access_terminated_error" in str(info.value)


def test_per_agent_attribution_ledger_and_events(env: GatewayEnv, tmp_path: Path) -> None:
    reviewer = env.gateway.keys.add("reviewer")
    received: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        req = urllib.request.Request(
            env.url + "/v1/events?agent=reviewer", headers={"x-api-key": env.key}
        )
        with urllib.request.urlopen(req, timeout=20) as r:
            ready.set()
            event = None
            for raw in r:
                line = raw.decode().strip()
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    received.append({"event": event, **json.loads(line[5:])})
                    if event == "response_finished":
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(5)
    deadline = time.time() + 5
    while env.gateway.events.subscribers == 0 and time.time() < deadline:
        time.sleep(0.01)
    env.kimi.script([{"text": "reviewed."}])
    a = anthropic.Anthropic(base_url=env.url, api_key=reviewer, max_retries=0)
    with a.messages.stream(**A_BODY) as s:
        s.get_final_message()
    listener.join(10)
    kinds = [e["event"] for e in received]
    assert kinds == ["request_started", "response_finished"]
    finished = received[-1]
    assert finished["agent"] == "reviewer"
    assert finished["stop_reason"] == "end_turn"
    assert finished["text"] == "reviewed."
    # the ledger row, flushed within the interval
    ledger = env.gateway.ledger
    assert ledger is not None
    deadline = time.time() + 5
    while ledger.pending and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    reader = Ledger(ledger.path)
    rows = reader.rows()
    assert rows[0].agent == "reviewer"
    assert rows[0].dialect_in == "anthropic" and rows[0].dialect_out == "openai"
    assert rows[0].output_tokens > 0 and rows[0].ttfb_ms is not None
    assert [t.key for t in reader.by_agent()] == ["reviewer"]
    reader.close()


def test_client_disconnect_is_recorded(env: GatewayEnv) -> None:
    env.kimi.script([{"text": "slow " * 50, "delay_ms": 50}])
    req = urllib.request.Request(
        env.url + "/v1/chat/completions",
        data=json.dumps({**O_BODY, "stream": True}).encode(),
        headers={**JSON, "x-api-key": env.key},
    )
    r = urllib.request.urlopen(req, timeout=20)
    r.read(50)
    r.close()
    ledger = env.gateway.ledger
    assert ledger is not None
    deadline = time.time() + 5
    rows: list[Any] = []
    while time.time() < deadline:
        time.sleep(0.1)
        rows = Ledger(ledger.path).rows() if ledger.path.exists() else []
        if rows:
            break
    assert rows and rows[0].error == "client disconnected"
