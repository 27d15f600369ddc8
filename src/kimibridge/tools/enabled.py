"""Which tools ``kimibridge mcp`` serves: the user's settings, then the project's file.

The user's ``config.toml`` holds ``[tools.<name>] enabled = …`` (all on by default). A project
may override that in ``.kimibridge.toml`` (found in the working directory or the nearest parent
that has one); the two are deep-merged, the project winning. The project file may hold only a
``[tools]`` table: everything else (endpoints, identity) stays per user, so a cloned repository
cannot redirect the user's credential.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from pydantic import ValidationError

from kimibridge.config import Settings, ToolsSettings
from kimibridge.errors import ConfigError
from kimibridge.tools.spec import PROJECT_FILE, TOOL_NAMES, ToolName

__all__ = ["enabled_tools", "find_project_file", "merged_tools"]


def find_project_file(start: Path) -> Path | None:
    """The nearest ``.kimibridge.toml`` at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def _project_tools(path: Path) -> dict[str, Any]:
    try:
        data = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    other = sorted(set(data) - {"tools"})
    if other:
        raise ConfigError(
            f"{path} may only hold a [tools] table (found {', '.join(other)}); other settings "
            "are per user: `kimibridge config set`"
        )
    tools = data.get("tools", {})
    if not isinstance(tools, dict):
        raise ConfigError(f"{path}: tools must be a table such as [tools.moonshot_search]")
    return tools


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merged_tools(settings: Settings, project_dir: Path | None) -> tuple[ToolsSettings, Path | None]:
    """The tool settings in force in ``project_dir`` (None: the user's alone), and the project
    file that changed them."""
    path = find_project_file(project_dir) if project_dir is not None else None
    if path is None:
        return settings.tools, None
    data = _deep_merge(settings.tools.model_dump(), _project_tools(path))
    try:
        return ToolsSettings.model_validate(data), path
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise ConfigError(
                f"{path}: unknown setting tools.{where}; tools are {', '.join(TOOL_NAMES)} "
                "and each has `enabled`"
            ) from None
        raise ConfigError(f"{path}: tools.{where} must be true or false") from None


def enabled_tools(settings: Settings, project_dir: Path | None) -> tuple[ToolName, ...]:
    tools, _ = merged_tools(settings, project_dir)
    return tuple(name for name in TOOL_NAMES if getattr(tools, name).enabled)
