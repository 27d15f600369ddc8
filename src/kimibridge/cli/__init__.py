"""Console entry point.

Kept cheap on purpose: `kimibridge --version` is answered before Typer, Rich or any
subcommand module is imported, and each command group is imported only when it is used.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from kimibridge._version import __version__

        print(f"kimibridge {__version__}")
        return
    from kimibridge.cli._root import run

    run(args)
