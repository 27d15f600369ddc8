"""The Kimi models a harness is told about, with the facts its config needs.

From the cached ``/models`` catalog (``kimibridge status`` / the gateway write it) when there is
one, else the built-in defaults of ``kimi.model_map`` (unverified against a live catalog; the
gateway maps any name anyway, so a stale list costs a wrong context size, not a failed request).
"""

from __future__ import annotations

from pathlib import Path

from kimibridge.kimi.catalog import load_catalog
from kimibridge.kimi.model_map import DEFAULT_KIMI_MODEL, DEFAULT_SPECS, ModelSpec

__all__ = ["DEFAULT_KIMI_MODEL", "harness_models", "pick_model"]


def harness_models(catalog_file: Path | None = None) -> tuple[ModelSpec, ...]:
    """Every Kimi model to configure, the default (``kimi-for-coding``) first when present."""
    catalog = load_catalog(catalog_file) if catalog_file is not None else None
    specs: list[ModelSpec]
    if catalog is not None and catalog.models:
        specs = [ModelSpec.from_catalog_entry(m.to_wire()) for m in catalog.models]
    else:
        specs = list(DEFAULT_SPECS.values())
    specs.sort(key=lambda s: s.id != DEFAULT_KIMI_MODEL)  # stable: catalog order otherwise
    return tuple(specs)


def pick_model(models: tuple[ModelSpec, ...], wanted: str | None) -> ModelSpec:
    """The model called ``wanted`` (any case), else the first; an unknown name is kept as asked."""
    if wanted:
        for spec in models:
            if spec.id.lower() == wanted.lower():
                return spec
        return ModelSpec(wanted)
    return models[0] if models else ModelSpec(DEFAULT_KIMI_MODEL)
