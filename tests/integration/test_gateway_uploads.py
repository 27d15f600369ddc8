"""Large images go to Kimi's Files API once and are sent as ms://<id>; small ones stay inline."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from kimibridge.testing import EmulatorHandle
from tests.integration.gateway_env import GatewayEnv, gateway_env

pytestmark = pytest.mark.integration

BIG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(1_200_000)).decode()
SMALL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 100).decode()


@pytest.fixture(params=["openai", "anthropic"])
def env(
    request: pytest.FixtureRequest, kimi_emulator: EmulatorHandle, tmp_path: Path
) -> Iterator[GatewayEnv]:
    with gateway_env(kimi_emulator, tmp_path, upstream_protocol=request.param) as e:
        yield e


def uploads(env: GatewayEnv) -> int:
    return len([r for r in env.kimi.requests if r.path.endswith("/files")])


def test_anthropic_images(env: GatewayEnv) -> None:
    a = anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)
    content: Any = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": BIG}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": SMALL}},
        {"type": "text", "text": "what is this?"},
    ]
    with a:
        for _ in range(2):
            assert a.messages.create(
                model="claude-x", max_tokens=500, messages=[{"role": "user", "content": content}]
            ).content
    assert uploads(env) == 1  # the second turn reuses the upload
    sent = json.dumps(env.kimi.requests[-1].json())
    assert "ms://" in sent and BIG[:100] not in sent and SMALL in sent


def test_openai_images(env: GatewayEnv) -> None:
    o = openai.OpenAI(base_url=env.openai_base, api_key=env.key, max_retries=0)
    content: Any = [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{BIG}"}},
        {"type": "text", "text": "what is this?"},
    ]
    with o:
        resp = o.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": content}]
        )
    assert resp.choices[0].message.content
    assert uploads(env) == 1
    assert "ms://" in json.dumps(env.kimi.requests[-1].json())
