"""The tools' names and texts, and the datasources Kimi knows (kimi-plugins.md §1.11).

Kept free of imports so ``kimibridge setup --tools`` can name the server without loading it.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "CLIENT_TIMEOUT_MS",
    "DATA_SOURCES",
    "PROJECT_FILE",
    "SERVER_NAME",
    "TOOL_NAMES",
    "ToolName",
]

SERVER_NAME: Final = "kimibridge"
ToolName = Literal["moonshot_search", "moonshot_fetch", "kimi_datasource"]
TOOL_NAMES: Final[tuple[ToolName, ...]] = ("moonshot_search", "moonshot_fetch", "kimi_datasource")
# How long a harness's MCP client must wait for one call: Kimi's tools may take 180 s
# (kimi.upstream's TOOL_TIMEOUTS), plus a margin for the hop. kimi-cli waits 60 s by default.
CLIENT_TIMEOUT_MS: Final = 200_000
# A project's own switches for the tools, next to its code (only the [tools] table is read).
PROJECT_FILE: Final = ".kimibridge.toml"

# Kimi's datasource names with what each holds; listed in kimi_datasource's schema so the model
# picks a valid one without a round trip.
DATA_SOURCES: Final[dict[str, str]] = {
    "stock_finance_data": "A/HK/US stocks: prices, financial reports, indicators, shareholders",
    "yahoo_finance": "global markets: quotes, analyst ratings, options, indexes, history",
    "world_bank_open_data": "World Bank macro data: GDP, inflation, population",
    "tianyancha": "Chinese company registry: shareholders, legal representative, risks",
    "arxiv": "arXiv preprints: search, abstracts, arXiv ids",
    "scholar": "academic papers, authors, citations",
    "yuandian_law": "Chinese laws, regulations and judicial cases",
    "wind": "A-share intraday series, funds, bonds",
    "imf": "IMF macro data: exchange rates, CPI, GDP forecasts",
    "gildata": "natural-language stock and fund screening",
    "sec_edgar": "US SEC filings: 10-K/10-Q, S-1, Form 4, 13F, 8-K",
    "sp_data": "S&P fundamentals: estimates, valuation ratios, transcripts",
}
