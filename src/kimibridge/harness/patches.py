"""One edit to a harness's configuration file, as data.

``kimibridge setup`` (harness models) and ``kimibridge setup --tools`` (the MCP server) both
describe what they want as patches; one engine applies them with a backup and an exact undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["ConfigPatch"]


@dataclass(frozen=True, slots=True)
class ConfigPatch:
    """Set ``value`` at ``key_path`` inside the JSON or TOML file at ``path``.

    Only that key is replaced; everything else in the file is kept. An empty ``key_path``
    means the whole file is ``value`` (a file kimibridge owns outright).
    """

    path: Path
    format: Literal["json", "toml"]
    key_path: tuple[str, ...]
    value: Any
