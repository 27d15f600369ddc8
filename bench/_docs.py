"""Benchmarks write what they print into ``docs/performance.md``, each into its own section.

A section sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``; everything else in
the page is prose kept by hand. A run replaces only its own section, so the page always shows the
last run of each benchmark with the machine's load at the time.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def machine_line() -> str:
    """When and where: date (UTC), cores, Python, load average at the end of the run."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Run {when}; {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"load average {load} (1/5/15 min) at the end of the run."
    )


def write_section(name: str, markdown: str, doc: Path = DOC) -> None:
    """Replace section ``name`` of ``doc`` (appended at the end when the page lacks it)."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    if start in text and end in text:
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = doc.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(doc)
    print(f"wrote the {name} section of {doc}")
