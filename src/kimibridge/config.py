"""Where kimibridge keeps its files, and its settings.

Precedence is implemented here once: defaults < config file < environment < flags.
Other modules receive paths and settings from here and never read ``os.environ`` themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_HOME", "Paths"]

# Points every kimibridge file (config, credentials, ledger, team store) at one directory.
# Tests set it to a temporary directory; users may set it to keep profiles apart.
ENV_HOME = "KIMIBRIDGE_HOME"


@dataclass(frozen=True, slots=True)
class Paths:
    """Every file kimibridge owns, derived from two roots."""

    config_dir: Path
    state_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get(ENV_HOME)
        if home:
            root = Path(home).expanduser()
            return cls(config_dir=root, state_dir=root / "state")
        import platformdirs

        return cls(
            config_dir=Path(platformdirs.user_config_dir("kimibridge", appauthor=False)),
            state_dir=Path(platformdirs.user_state_dir("kimibridge", appauthor=False)),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def credentials_file(self) -> Path:
        return self.config_dir / "credentials.json"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"
