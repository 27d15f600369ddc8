"""The models the emulator serves, with the fields Kimi's ``GET /coding/v1/models`` returns.

Ids, context sizes and effort lists follow reference/kimi-cli-wire.md §4 ("/models response")
and §11.5 (CLIProxyAPI's table: 256K context / 64K output for the K2 line, 1M / 64K for K3, K3
efforts low/high/max and thinking that cannot be turned off). Unverified against a live
``/models``; the fields are the ones both kimi-cli generations read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelInfo",
    "ThinkingType",
    "get_model",
    "model_ids",
    "models_payload",
]

ThinkingType = Literal["only", "no", "both"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    display_name: str
    context_length: int
    max_output_tokens: int
    supports_reasoning: bool = True
    supports_image_in: bool = True
    supports_video_in: bool = True
    supports_tool_use: bool = True
    # "only": thinking always on (a "disabled" request is ignored); "both": on unless disabled.
    supports_thinking_type: ThinkingType = "both"
    valid_efforts: tuple[str, ...] = ()
    default_effort: str | None = None
    protocol: str | None = None

    def to_wire(self) -> dict[str, object]:
        """One entry of the ``/models`` ``data`` list, in Kimi's field names."""
        entry: dict[str, object] = {
            "id": self.id,
            "object": "model",
            "display_name": self.display_name,
            "context_length": self.context_length,
            "supports_reasoning": self.supports_reasoning,
            "supports_image_in": self.supports_image_in,
            "supports_video_in": self.supports_video_in,
            "supports_tool_use": self.supports_tool_use,
            "supports_thinking_type": self.supports_thinking_type,
            "think_efforts": {
                "support": bool(self.valid_efforts),
                "valid_efforts": list(self.valid_efforts),
                "default_effort": self.default_effort,
            },
        }
        if self.protocol is not None:
            entry["protocol"] = self.protocol
        return entry


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="kimi-for-coding",
        display_name="kimi-for-coding",
        context_length=262144,
        max_output_tokens=65536,
    ),
    ModelInfo(
        id="kimi-for-coding-highspeed",
        display_name="kimi-for-coding-highspeed",
        context_length=262144,
        max_output_tokens=65536,
    ),
    ModelInfo(
        id="k3",
        display_name="K3",
        context_length=1048576,
        max_output_tokens=65536,
        supports_thinking_type="only",
        valid_efforts=("low", "high", "max"),
        default_effort="high",
    ),
)

DEFAULT_MODEL = MODELS[0].id

_BY_ID = {m.id: m for m in MODELS}


def get_model(model_id: str) -> ModelInfo | None:
    return _BY_ID.get(model_id)


def model_ids() -> list[str]:
    return [m.id for m in MODELS]


def models_payload() -> dict[str, object]:
    """The body of ``GET /coding/v1/models``: ``{"object": "list", "data": [...]}``."""
    return {"object": "list", "data": [m.to_wire() for m in MODELS]}
