"""``kimibridge.protocol`` is pure: its surface is listed, and importing it pulls in no I/O."""

from __future__ import annotations

import json
import subprocess
import sys

import kimibridge.protocol as protocol

FORBIDDEN = (
    "kimibridge.kimi",
    "kimibridge.gateway",
    "kimibridge.emulator",
    "aiohttp",
    "httpx",
    "asyncio",
)


def test_importing_protocol_loads_no_io_or_upper_layers() -> None:
    code = "import json, sys; import kimibridge.protocol; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []


def test_all_is_sorted_complete_and_resolvable() -> None:
    names = protocol.__all__
    # isort style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions.
    assert names == sorted(
        names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    assert all(getattr(protocol, name, None) is not None for name in names)
    submodules = {n for n in dir(protocol) if type(getattr(protocol, n)).__name__ == "module"}
    public = {n for n in dir(protocol) if not n.startswith("_")} - submodules
    assert public == set(names)
