"""Model catalog: parsing /models, unknown fields, derived thinking type, cache file."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from kimibridge.kimi.catalog import (
    KimiModel,
    ModelCatalog,
    ThinkEfforts,
    load_catalog,
    parse_models,
    save_catalog,
)

BASE = "https://api.kimi.com/coding/v1"

PAYLOAD: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "id": "kimi-for-coding",
            "object": "model",
            "display_name": "kimi-for-coding",
            "context_length": 262144,
            "supports_reasoning": True,
            "supports_image_in": True,
            "supports_video_in": True,
            "supports_tool_use": True,
            "supports_thinking_type": "both",
            "think_efforts": {"support": False, "valid_efforts": [], "default_effort": None},
            "brand_new_field": {"x": 1},
        },
        {
            "id": "k3",
            "display_name": "K3",
            "context_length": 1048576,
            "supports_reasoning": True,
            "supports_thinking_type": "only",
            "think_efforts": {
                "support": True,
                "valid_efforts": ["low", "high", "max"],
                "default_effort": "high",
            },
            "protocol": "anthropic",
            "max_output_tokens": 65536,
        },
        {"id": "kimi-k2-thinking", "context_length": "131072", "supports_reasoning": True},
        {"id": "plain", "context_length": 8192},
        {"id": "broken-no-context"},
        {"id": "", "context_length": 5},
        "not an object",
    ],
}


def test_parse_models_reads_every_documented_field() -> None:
    models = parse_models(PAYLOAD)
    assert [m.id for m in models] == ["kimi-for-coding", "k3", "kimi-k2-thinking", "plain"]
    kfc, k3, thinking, plain = models
    assert kfc.context_length == 262144
    assert kfc.supports_image_in and kfc.supports_video_in and kfc.supports_tool_use
    assert kfc.supports_thinking_type == "both" and kfc.can_disable_thinking
    assert kfc.efforts == () and kfc.default_effort is None
    assert kfc.protocol == "openai" and kfc.max_output_tokens is None
    assert kfc.extra == {"object": "model", "brand_new_field": {"x": 1}}
    assert k3.display_name == "K3" and k3.protocol == "anthropic"
    assert k3.think_efforts == ThinkEfforts(True, ("low", "high", "max"), "high")
    assert k3.accepts_effort("max") and not k3.accepts_effort("medium")
    assert k3.default_effort == "high" and not k3.can_disable_thinking
    assert k3.max_output_tokens == 65536
    # No supports_thinking_type: an id naming thinking always thinks (legacy rule).
    assert thinking.supports_thinking_type == "only" and thinking.context_length == 131072
    assert thinking.display_name == "kimi-k2-thinking"
    assert plain.supports_thinking_type == "no" and not plain.can_think


def test_parse_tolerates_garbage() -> None:
    assert parse_models({"data": "nope"}) == ()
    assert parse_models(None) == ()
    assert parse_models([{"id": "a", "context_length": 1}])[0].id == "a"


def test_resolve_by_id_then_case_insensitive_id_or_display_name() -> None:
    catalog = ModelCatalog.from_payload(PAYLOAD, base_url=BASE + "/")
    assert catalog.base_url == BASE
    assert catalog.default is not None and catalog.default.id == "kimi-for-coding"
    k3 = catalog.resolve("k3")
    assert k3 is not None and catalog.resolve("K3") is k3
    assert catalog.resolve("Kimi-For-Coding") is catalog.default
    assert catalog.resolve("claude-opus-5-5") is None
    assert catalog.ids == ["kimi-for-coding", "k3", "kimi-k2-thinking", "plain"]


def test_cache_round_trips_atomically_with_private_mode(tmp_path: Path) -> None:
    catalog = ModelCatalog.from_payload(PAYLOAD, base_url=BASE, fetched_at=1234.5)
    path = tmp_path / "state" / "models.json"
    save_catalog(catalog, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_catalog(path, base_url=BASE)
    assert loaded is not None
    assert loaded.models == catalog.models
    assert loaded.fetched_at == 1234.5
    assert json.loads(path.read_text())["data"][0]["brand_new_field"] == {"x": 1}


def test_cache_from_another_deployment_or_damaged_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    save_catalog(ModelCatalog.from_payload(PAYLOAD, base_url=BASE), path)
    assert load_catalog(path, base_url="https://api.kimi.ai/coding/v1") is None
    assert load_catalog(path) is not None
    path.write_text("{not json")
    assert load_catalog(path) is None
    path.write_text(json.dumps({"version": 99, "base_url": BASE, "data": []}))
    assert load_catalog(path) is None
    assert load_catalog(tmp_path / "missing.json") is None


def test_to_wire_round_trips() -> None:
    for model in parse_models(PAYLOAD):
        again = parse_models({"data": [model.to_wire()]})
        assert again == (model,)
    assert isinstance(parse_models(PAYLOAD)[0], KimiModel)
