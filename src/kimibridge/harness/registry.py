"""The harnesses `run` and `setup` know, by the name the user types; each imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from kimibridge.errors import ConfigError
from kimibridge.harness.contract import Context, Launch
from kimibridge.harness.patches import ConfigPatch

__all__ = ["NAMES", "Harness", "UnknownHarness", "get_harness"]

# name -> module holding ``HARNESS``
_MODULES: Final[Mapping[str, str]] = {
    "claude": "kimibridge.harness.claude",
    "pi": "kimibridge.harness.pi",
    "opencode": "kimibridge.harness.opencode",
    "kimi": "kimibridge.harness.kimi",
}
NAMES: Final = tuple(_MODULES)


class Harness(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def display(self) -> str: ...
    @property
    def install_hint(self) -> str: ...
    def command(self, environ: Mapping[str, str]) -> list[str]: ...
    # tools: the kimibridge MCP server for this launch only (ConfigError when it has no MCP client)
    def launch(self, ctx: Context, args: Sequence[str], *, tools: bool = False) -> Launch: ...
    def setup_patches(self, ctx: Context) -> list[ConfigPatch]: ...


class UnknownHarness(ConfigError):
    pass


def get_harness(name: str) -> Harness:
    module = _MODULES.get(name)
    if module is None:
        raise UnknownHarness(f"unknown harness {name!r}; choose one of: {', '.join(NAMES)}")
    harness: Harness = importlib.import_module(module).HARNESS
    return harness
