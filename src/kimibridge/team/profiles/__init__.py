"""Agent profiles: Markdown with YAML front matter, compatible with CAO's profile files.

```markdown
---
name: developer
description: Writes code.
provider: kimi_cli            # or claude_code (default: kimi_cli)
model: kimi-for-coding        # optional
allowedTools: ["*"]           # optional; "*" (or no list) = every tool
autoApprove: true             # optional; default: true exactly when allowedTools allows "*"
mcpServers:                   # optional, passed to the harness
  tools: {command: my-mcp, args: [--stdio], env: {LEVEL: debug}}
---
The body is the system prompt.
```

Unknown front-matter keys (CAO's ``role``, ``skills``, ``tags``, ...) are accepted and ignored.
Lookup, first match wins: ``<project>/.kimibridge/agents/``, the user's profile dir
(``<config dir>/agents/``), then the built-ins shipped as ``*.md`` next to this module. A
profile is ``<name>.md`` or ``<name>/agent.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from kimibridge.config import Paths
from kimibridge.errors import TeamError
from kimibridge.team.providers import PROVIDERS as _REGISTRY

__all__ = [
    "PROVIDERS",
    "Profile",
    "find_profile",
    "list_profiles",
    "parse_profile",
    "profile_dirs",
]

PROVIDERS: Final = tuple(_REGISTRY)  # the provider registry's names
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
Origin = Literal["project", "user", "builtin"]


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    prompt: str  # the Markdown body: the system prompt
    provider: str = "kimi_cli"
    model: str | None = None
    allowed_tools: tuple[str, ...] | None = None  # None: not restricted
    auto_approve: bool = False  # the harness may run tools without asking (kimi --yolo)
    mcp_servers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    origin: Origin = "builtin"
    source: str = ""  # where it was read from

    @property
    def restricted(self) -> bool:
        return self.allowed_tools is not None and "*" not in self.allowed_tools


def profile_dirs(project_dir: Path, paths: Paths) -> list[tuple[Origin, Path]]:
    return [
        ("project", project_dir / ".kimibridge" / "agents"),
        ("user", paths.config_dir / "agents"),
    ]


def parse_profile(text: str, *, source: str, origin: Origin = "builtin") -> Profile:
    """A profile from its file text; one-line ``TeamError`` naming ``source`` when malformed."""
    meta, body = _split(text, source)

    def bad(why: str) -> TeamError:
        return TeamError(f"agent profile {source}: {why}")

    name = meta.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad("needs a `name` of letters, digits, '.', '_' or '-'")
    description = meta.get("description", "")
    if not isinstance(description, str):
        raise bad("`description` must be text")
    provider = meta.get("provider") or "kimi_cli"
    if provider not in _REGISTRY:  # looked up now: tests and plugins may register more
        raise bad(f"provider {provider!r} is not one of {', '.join(_REGISTRY)}")
    model = meta.get("model")
    if model is not None and not isinstance(model, str):
        raise bad("`model` must be text")
    tools = meta.get("allowedTools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, str) for t in tools)
    ):
        raise bad("`allowedTools` must be a list of tool names")
    allowed = tuple(tools) if tools is not None else None
    auto = meta.get("autoApprove")
    if auto is not None and not isinstance(auto, bool):
        raise bad("`autoApprove` must be true or false")
    if auto is None:
        auto = allowed is not None and "*" in allowed
    servers = meta.get("mcpServers") or {}
    if not isinstance(servers, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) for k, v in servers.items()
    ):
        raise bad("`mcpServers` must map server names to their settings")
    for server, spec in servers.items():
        env = spec.get("env")
        if env is not None and not isinstance(env, dict):
            raise bad(f"mcpServers.{server}.env must be a mapping")
    return Profile(
        name=name,
        description=description.strip(),
        prompt=body.strip() + "\n",
        provider=provider,
        model=model,
        allowed_tools=allowed,
        auto_approve=auto,
        mcp_servers=servers,
        origin=origin,
        source=source,
    )


def _split(text: str, source: str) -> tuple[dict[str, Any], str]:
    text = text.lstrip("\ufeff")
    m = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?$\n?", text, re.S | re.M)
    if m is None:
        raise TeamError(f"agent profile {source}: no YAML front matter (start with a --- line)")
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise TeamError(f"agent profile {source}: front matter is not valid YAML{line}") from None
    if not isinstance(meta, dict):
        raise TeamError(f"agent profile {source}: front matter must be a mapping")
    return meta, text[m.end() :]


def _candidates(directory: Path, name: str) -> Iterator[Path]:
    yield directory / f"{name}.md"
    yield directory / name / "agent.md"


def find_profile(name: str, project_dir: Path, paths: Paths) -> Profile:
    """The profile ``name`` from the project, the user's dir, or the built-ins."""
    if not _NAME.fullmatch(name):
        raise TeamError(f"{name!r} is not a profile name")
    for origin, directory in profile_dirs(project_dir, paths):
        for path in _candidates(directory, name):
            if path.is_file():
                return _read(path, origin)
    builtin = resources.files("kimibridge.team.profiles").joinpath(f"{name}.md")
    if builtin.is_file():
        return parse_profile(builtin.read_text(encoding="utf-8"), source=f"built-in {name}")
    known = ", ".join(p.name for p in list_profiles(project_dir, paths)) or "none"
    raise TeamError(f"no agent profile named {name!r} (known: {known}); `kimibridge team profiles`")


def _read(path: Path, origin: Origin) -> Profile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TeamError(f"cannot read agent profile {path}: {exc.strerror or exc}") from None
    return parse_profile(text, source=str(path), origin=origin)


def list_profiles(project_dir: Path, paths: Paths) -> list[Profile]:
    """Every profile visible from ``project_dir``, earlier sources shadowing later ones.
    A malformed file is skipped here (``find_profile`` reports it)."""
    found: dict[str, Profile] = {}
    for origin, directory in profile_dirs(project_dir, paths):
        if not directory.is_dir():
            continue
        for path in sorted([*directory.glob("*.md"), *directory.glob("*/agent.md")]):
            try:
                profile = _read(path, origin)
            except TeamError:
                continue
            found.setdefault(profile.name, profile)
    for entry in sorted(
        resources.files("kimibridge.team.profiles").iterdir(), key=lambda e: e.name
    ):
        if entry.name.endswith(".md"):
            profile = parse_profile(
                entry.read_text(encoding="utf-8"), source=f"built-in {entry.name[:-3]}"
            )
            found.setdefault(profile.name, profile)
    return sorted(found.values(), key=lambda p: p.name)
