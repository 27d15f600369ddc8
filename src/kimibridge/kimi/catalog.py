"""Kimi's model catalog: ``GET /models`` parsed into typed models, cached in a JSON file.

Fields are the ones both kimi-cli generations read (reference/kimi-cli-wire.md §4 "/models
response", kimi-plugins.md §1.8): ``context_length``, ``supports_reasoning``, image/video input,
``supports_tool_use``, ``supports_thinking_type`` (``only``/``no``/``both``), ``think_efforts``
and ``protocol``. Unknown fields are kept in ``extra``. When ``supports_thinking_type`` is
missing it is derived as the legacy CLI does: an id containing ``thinking`` always thinks, else
``supports_reasoning`` decides. The output limit is not a documented field; it is read from
``max_output_tokens`` / ``max_completion_tokens`` when present (unverified against live Kimi).

The cache remembers the base URL it came from: a catalog from one deployment is not used for
another.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from kimibridge._fs import atomic_write
from kimibridge.errors import UpstreamError

if TYPE_CHECKING:
    from kimibridge.kimi.upstream import KimiUpstream

__all__ = [
    "CATALOG_FILENAME",
    "KimiModel",
    "ModelCatalog",
    "ThinkEfforts",
    "ThinkingType",
    "fetch_catalog",
    "load_catalog",
    "parse_models",
    "save_catalog",
]

ThinkingType = Literal["only", "no", "both"]
Protocol = Literal["openai", "anthropic"]

CATALOG_FILENAME: Final = "models.json"
_FORMAT_VERSION: Final = 1
_KNOWN: Final = frozenset(
    {
        "id",
        "display_name",
        "context_length",
        "supports_reasoning",
        "supports_image_in",
        "supports_video_in",
        "supports_tool_use",
        "supports_thinking_type",
        "think_efforts",
        "protocol",
        "max_output_tokens",
        "max_completion_tokens",
    }
)


@dataclass(frozen=True, slots=True)
class ThinkEfforts:
    support: bool = False
    valid_efforts: tuple[str, ...] = ()
    default_effort: str | None = None


@dataclass(frozen=True, slots=True)
class KimiModel:
    id: str
    display_name: str
    context_length: int
    supports_reasoning: bool = False
    supports_image_in: bool = False
    supports_video_in: bool = False
    supports_tool_use: bool = True
    supports_thinking_type: ThinkingType = "no"
    think_efforts: ThinkEfforts = field(default_factory=ThinkEfforts)
    protocol: Protocol = "openai"
    max_output_tokens: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def can_think(self) -> bool:
        return self.supports_thinking_type != "no"

    @property
    def can_disable_thinking(self) -> bool:
        return self.supports_thinking_type != "only"

    @property
    def efforts(self) -> tuple[str, ...]:
        """Efforts the model takes in ``thinking.effort``; empty when it takes none."""
        return self.think_efforts.valid_efforts if self.think_efforts.support else ()

    @property
    def default_effort(self) -> str | None:
        return self.think_efforts.default_effort if self.think_efforts.support else None

    def accepts_effort(self, effort: str) -> bool:
        return effort in self.efforts

    def to_wire(self) -> dict[str, Any]:
        """Back to Kimi's field names (for the cache and for serving ``/models`` again)."""
        wire: dict[str, Any] = dict(self.extra)
        wire.update(
            {
                "id": self.id,
                "display_name": self.display_name,
                "context_length": self.context_length,
                "supports_reasoning": self.supports_reasoning,
                "supports_image_in": self.supports_image_in,
                "supports_video_in": self.supports_video_in,
                "supports_tool_use": self.supports_tool_use,
                "supports_thinking_type": self.supports_thinking_type,
                "think_efforts": {
                    "support": self.think_efforts.support,
                    "valid_efforts": list(self.think_efforts.valid_efforts),
                    "default_effort": self.think_efforts.default_effort,
                },
            }
        )
        if self.protocol != "openai" or "protocol" in self.extra:
            wire["protocol"] = self.protocol
        if self.max_output_tokens is not None:
            wire["max_output_tokens"] = self.max_output_tokens
        return wire


def _bool(value: object, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _thinking_type(entry: Mapping[str, Any], model_id: str, reasoning: bool) -> ThinkingType:
    value = entry.get("supports_thinking_type")
    if value in ("only", "no", "both"):
        return value  # type: ignore[no-any-return]
    if "thinking" in model_id:
        return "only"
    return "both" if reasoning else "no"


def _efforts(value: object) -> ThinkEfforts:
    if not isinstance(value, Mapping):
        return ThinkEfforts()
    valid = value.get("valid_efforts")
    efforts = tuple(e for e in valid if isinstance(e, str)) if isinstance(valid, list) else ()
    default = value.get("default_effort")
    return ThinkEfforts(
        support=_bool(value.get("support"), bool(efforts)),
        valid_efforts=efforts,
        default_effort=default if isinstance(default, str) and default else None,
    )


def _model(entry: Mapping[str, Any]) -> KimiModel | None:
    model_id = entry.get("id")
    context = _int(entry.get("context_length"))
    if not isinstance(model_id, str) or not model_id or context is None or context <= 0:
        return None
    reasoning = _bool(entry.get("supports_reasoning"), False)
    display = entry.get("display_name")
    protocol = entry.get("protocol")
    output = _int(entry.get("max_output_tokens"))
    if output is None:
        output = _int(entry.get("max_completion_tokens"))
    return KimiModel(
        id=model_id,
        display_name=display if isinstance(display, str) and display else model_id,
        context_length=context,
        supports_reasoning=reasoning,
        supports_image_in=_bool(entry.get("supports_image_in"), False),
        supports_video_in=_bool(entry.get("supports_video_in"), False),
        supports_tool_use=_bool(entry.get("supports_tool_use"), True),
        supports_thinking_type=_thinking_type(entry, model_id, reasoning),
        think_efforts=_efforts(entry.get("think_efforts")),
        protocol="anthropic" if protocol == "anthropic" else "openai",
        max_output_tokens=output,
        extra={k: v for k, v in entry.items() if k not in _KNOWN},
    )


def parse_models(payload: object) -> tuple[KimiModel, ...]:
    """Models from a ``/models`` body (``{"data": [...]}``); malformed entries are skipped."""
    data = payload.get("data") if isinstance(payload, Mapping) else payload
    if not isinstance(data, list):
        return ()
    models = (_model(entry) for entry in data if isinstance(entry, Mapping))
    return tuple(m for m in models if m is not None)


@dataclass(frozen=True, slots=True)
class ModelCatalog:
    models: tuple[KimiModel, ...]
    base_url: str
    fetched_at: float  # epoch seconds
    _by_id: dict[str, KimiModel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {m.id: m for m in self.models})

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    @property
    def default(self) -> KimiModel | None:
        """The first model, which both kimi-cli generations take as the default."""
        return self.models[0] if self.models else None

    def resolve(self, model_id: str) -> KimiModel | None:
        """The model for ``model_id``: exact id, then case-insensitive id or display name."""
        found = self._by_id.get(model_id)
        if found is not None:
            return found
        wanted = model_id.strip().lower()
        for model in self.models:
            if model.id.lower() == wanted or model.display_name.lower() == wanted:
                return model
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _FORMAT_VERSION,
            "base_url": self.base_url,
            "fetched_at": self.fetched_at,
            "data": [m.to_wire() for m in self.models],
        }

    @classmethod
    def from_payload(
        cls, payload: object, *, base_url: str, fetched_at: float | None = None
    ) -> ModelCatalog:
        return cls(
            models=parse_models(payload),
            base_url=base_url.rstrip("/"),
            fetched_at=time.time() if fetched_at is None else fetched_at,
        )


def save_catalog(catalog: ModelCatalog, path: Path) -> None:
    """Write the cache atomically (0600; it names the account's models, nothing secret)."""
    atomic_write(path, json.dumps(catalog.to_json(), indent=2) + "\n")


def load_catalog(path: Path, *, base_url: str | None = None) -> ModelCatalog | None:
    """The cached catalog, or None when missing, unreadable, or from another ``base_url``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("version") != _FORMAT_VERSION:
        return None
    cached_base = raw.get("base_url")
    if not isinstance(cached_base, str):
        return None
    if base_url is not None and cached_base != base_url.rstrip("/"):
        return None
    fetched_at = raw.get("fetched_at")
    return ModelCatalog.from_payload(
        raw,
        base_url=cached_base,
        fetched_at=float(fetched_at) if isinstance(fetched_at, int | float) else 0.0,
    )


async def fetch_catalog(
    upstream: KimiUpstream,
    *,
    cache: Path | None = None,
    caller_headers: Mapping[str, str] | None = None,
) -> ModelCatalog:
    """``GET /models`` through ``upstream``; written to ``cache`` when given.

    Raises the upstream's typed errors; a body that is not a model list is an ``UpstreamError``.
    """
    reply = await upstream.models(caller_headers=caller_headers)
    try:
        payload = reply.json()
    except ValueError as exc:
        raise UpstreamError("Kimi's /models answer is not JSON") from exc
    catalog = ModelCatalog.from_payload(payload, base_url=upstream.base_url)
    if not catalog.models:
        raise UpstreamError("Kimi's /models answer lists no usable models")
    if cache is not None:
        save_catalog(catalog, cache)
    return catalog
