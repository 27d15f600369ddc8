"""What the pi, opencode and kimi-cli harnesses need from a launch, and what they give back.

``Context`` is structural: any object with these attributes will do (the `run` / `setup`
commands build one per invocation). ``Launch`` is what to execute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kimibridge.errors import ConfigError

__all__ = ["Context", "HarnessMissing", "Launch", "missing"]


class Context(Protocol):
    @property
    def gateway_url(self) -> str: ...  # the gateway's root, e.g. http://127.0.0.1:8765
    @property
    def api_key(self) -> str: ...  # a gateway local key
    @property
    def config_dir(self) -> Path: ...  # kimibridge's own config dir (files a harness owns go here)
    @property
    def catalog_file(self) -> Path | None: ...  # Kimi's cached model catalog, when any
    @property
    def environ(self) -> Mapping[str, str]: ...
    @property
    def model(self) -> str | None: ...  # a Kimi model id chosen by the user, else the default


@dataclass(frozen=True, slots=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None = None


class HarnessMissing(ConfigError):
    """The harness's program is not installed: the message is one line with the install command."""


def missing(display: str, install_hint: str) -> HarnessMissing:
    return HarnessMissing(f"{display} is not installed; install it with `{install_hint}`")
