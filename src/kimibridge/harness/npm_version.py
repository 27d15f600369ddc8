"""The version of an npm-installed agent CLI, for an honest ``User-Agent`` (``pi/0.73.1``).

Read from the ``package.json`` of the package the binary belongs to: asking the CLI
(``pi --version``) loads the whole agent and takes seconds. The CLI is asked only when no
manifest is found (an unusual install layout).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

__all__ = ["package_version"]


def package_version(binary: Path, package: str) -> str | None:
    """``package``'s version if ``binary`` (symlinks followed) lives inside it, else ``--version``."""
    try:
        target = binary.resolve()
    except OSError:
        return None
    for parent in target.parents:
        manifest = parent / "package.json"
        if not manifest.is_file():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            break
        if isinstance(data, dict) and data.get("name") == package:
            version = data.get("version")
            return version if isinstance(version, str) and version else None
        break
    return _version_from_cli(binary)


def _version_from_cli(binary: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.stdout.split()
    return words[-1] if out.returncode == 0 and words else None
