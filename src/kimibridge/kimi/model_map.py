"""Which Kimi model a client's model name means, and what that model accepts.

Agents ask for the models they know (``claude-opus-5-5``, ``gpt-5``, ``fake-model``); Kimi's
coding endpoint only knows its own ids. The table is ordered ``(pattern, kimi id)`` pairs with
shell-style patterns matched case-insensitively against the client's name; the first match wins.
A name that is already a Kimi model passes unchanged. The default maps everything else to
``kimi-for-coding``::

    kimi-* / k3* / any catalog id   -> unchanged
    claude-*  gpt-*  o1* o3* o4*    -> kimi-for-coding
    anything else                   -> kimi-for-coding

``ModelSpec`` carries the few catalog facts shaping needs (output limit, thinking support,
efforts). ``DEFAULT_SPECS`` is used until the live catalog (``kimi.catalog``) is loaded; its values
follow reference/kimi-cli-wire.md §4 and §11.5 and are unverified against a live ``/models``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "DEFAULT_KIMI_MODEL",
    "DEFAULT_MODEL_MAP",
    "DEFAULT_SPECS",
    "ModelMap",
    "ModelSpec",
    "ThinkingSupport",
    "parse_model_map",
]

ThinkingSupport = Literal["only", "no", "both"]

DEFAULT_KIMI_MODEL: Final = "kimi-for-coding"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    context_length: int = 262144
    max_output_tokens: int = 32768
    supports_thinking_type: ThinkingSupport = "both"
    valid_efforts: tuple[str, ...] = ()
    default_effort: str | None = None
    protocol: str | None = None  # "anthropic" when the catalog says the model wants that route

    @classmethod
    def from_catalog_entry(cls, entry: Mapping[str, object]) -> ModelSpec:
        """Build from one ``/models`` ``data`` item (Kimi's field names)."""
        efforts = entry.get("think_efforts")
        valid: tuple[str, ...] = ()
        default: str | None = None
        if isinstance(efforts, Mapping) and efforts.get("support"):
            raw = efforts.get("valid_efforts")
            valid = tuple(str(e) for e in raw) if isinstance(raw, list) else ()
            d = efforts.get("default_effort")
            default = str(d) if isinstance(d, str) else None
        thinking = entry.get("supports_thinking_type")
        if thinking not in ("only", "no", "both"):
            thinking = "both" if entry.get("supports_reasoning", True) else "no"
        context = entry.get("context_length")
        max_out = entry.get("max_output_tokens") or entry.get("max_completion_tokens")
        proto = entry.get("protocol")
        return cls(
            id=str(entry["id"]),
            context_length=context if isinstance(context, int) and context > 0 else 262144,
            max_output_tokens=max_out if isinstance(max_out, int) and max_out > 0 else 32768,
            supports_thinking_type=thinking,  # type: ignore[arg-type]
            valid_efforts=valid,
            default_effort=default,
            protocol=proto if isinstance(proto, str) else None,
        )


DEFAULT_SPECS: Final[Mapping[str, ModelSpec]] = {
    s.id: s
    for s in (
        ModelSpec("kimi-for-coding", max_output_tokens=32768),
        ModelSpec("kimi-for-coding-highspeed", max_output_tokens=32768),
        ModelSpec(
            "k3",
            context_length=1048576,
            max_output_tokens=65536,
            supports_thinking_type="only",
            valid_efforts=("low", "high", "max"),
            default_effort="high",
        ),
    )
}

DEFAULT_MODEL_MAP: Final[tuple[tuple[str, str], ...]] = (
    ("claude-*", DEFAULT_KIMI_MODEL),
    ("gpt-*", DEFAULT_KIMI_MODEL),
    ("o[134]*", DEFAULT_KIMI_MODEL),
    ("*", DEFAULT_KIMI_MODEL),
)


def parse_model_map(text: str) -> tuple[tuple[str, str], ...]:
    """``pattern=model`` pairs separated by commas (``claude-*haiku*=kimi-for-coding-highspeed``)."""
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        pattern, sep, model = item.partition("=")
        if not sep or not pattern.strip() or not model.strip():
            raise ValueError(f"model map entry {item.strip()!r} is not pattern=model")
        pairs.append((pattern.strip(), model.strip()))
    return tuple(pairs)


class ModelMap:
    """Client model name -> ``ModelSpec`` of the Kimi model to call. Cached per name."""

    def __init__(
        self,
        rules: Sequence[tuple[str, str]] = DEFAULT_MODEL_MAP,
        specs: Mapping[str, ModelSpec] | None = None,
    ) -> None:
        # User rules first, then the defaults, so a partial user table still maps everything.
        self._rules = tuple((p.lower(), m) for p, m in (*rules, *DEFAULT_MODEL_MAP))
        self._specs: dict[str, ModelSpec] = dict(DEFAULT_SPECS if specs is None else specs)
        self._cache: dict[str, ModelSpec] = {}

    def update_catalog(self, entries: Iterable[Mapping[str, object]]) -> None:
        """Replace the specs with a live ``/models`` list."""
        specs = {}
        for entry in entries:
            if isinstance(entry.get("id"), str):
                spec = ModelSpec.from_catalog_entry(entry)
                specs[spec.id] = spec
        if specs:
            self._specs = specs
            self._cache.clear()

    @property
    def specs(self) -> Mapping[str, ModelSpec]:
        return self._specs

    def resolve(self, client_model: str | None) -> ModelSpec:
        name = (client_model or "").strip()
        spec = self._cache.get(name)
        if spec is None:
            spec = self._resolve(name)
            if len(self._cache) < 1024:  # bounded: model names come from clients
                self._cache[name] = spec
        return spec

    def _resolve(self, name: str) -> ModelSpec:
        if name in self._specs:
            return self._specs[name]
        lowered = name.lower()
        if lowered.startswith(("kimi-", "k3", "k2")):
            return self._specs.get(name) or ModelSpec(name)
        for pattern, target in self._rules:
            if fnmatch.fnmatchcase(lowered, pattern):
                return self._specs.get(target) or ModelSpec(target)
        return self._specs.get(DEFAULT_KIMI_MODEL) or ModelSpec(DEFAULT_KIMI_MODEL)
