"""SDK clients pointed straight at the emulator, shared by the emulator's integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from kimibridge.testing import EmulatorHandle

EMULATOR_KEY = "sk-kimi-test"


@pytest.fixture
def oai(kimi_emulator: EmulatorHandle) -> Iterator[openai.OpenAI]:
    """The official openai SDK on the emulator's OpenAI dialect, as kimi-cli would call it."""
    kimi_emulator.add_api_key(EMULATOR_KEY)
    with openai.OpenAI(
        base_url=kimi_emulator.base_url,
        api_key=EMULATOR_KEY,
        max_retries=0,
        default_headers={"User-Agent": "KimiCLI/1.52.0"},
    ) as client:
        yield client


@pytest.fixture
def ant(kimi_emulator: EmulatorHandle) -> Iterator[anthropic.Anthropic]:
    """The official anthropic SDK on the emulator's Anthropic dialect, as Claude Code would call it."""
    kimi_emulator.add_api_key(EMULATOR_KEY)
    with anthropic.Anthropic(
        base_url=kimi_emulator.anthropic_base_url,
        api_key=EMULATOR_KEY,
        max_retries=0,
        default_headers={"User-Agent": "claude-cli/2.1.330 (external, cli)"},
    ) as client:
        yield client
