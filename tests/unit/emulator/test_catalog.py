"""The model catalog served at /models."""

from __future__ import annotations

from kimibridge.emulator.catalog import DEFAULT_MODEL, get_model, model_ids, models_payload


def test_models_and_fields() -> None:
    assert model_ids() == ["kimi-for-coding", "kimi-for-coding-highspeed", "k3"]
    assert DEFAULT_MODEL == "kimi-for-coding"
    payload = models_payload()
    entries = {m["id"]: m for m in payload["data"]}  # type: ignore[attr-defined]
    k2, k3 = entries["kimi-for-coding"], entries["k3"]
    for entry in entries.values():
        for key in (
            "context_length",
            "supports_reasoning",
            "supports_image_in",
            "supports_video_in",
            "supports_tool_use",
            "supports_thinking_type",
            "think_efforts",
            "display_name",
        ):
            assert key in entry
    assert k2["context_length"] == 262144 and k2["supports_thinking_type"] == "both"
    assert k3["context_length"] == 1048576 and k3["supports_thinking_type"] == "only"
    assert k3["think_efforts"] == {
        "support": True,
        "valid_efforts": ["low", "high", "max"],
        "default_effort": "high",
    }
    assert k2["think_efforts"]["support"] is False
    assert "protocol" not in k2


def test_lookup_and_output_limit() -> None:
    info = get_model("k3")
    assert info is not None and info.max_output_tokens == 65536
    assert get_model("nope") is None
