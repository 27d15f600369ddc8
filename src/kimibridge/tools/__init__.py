"""Kimi's server-side tools (search, fetch, datasources) as an MCP server any harness can use.

- ``spec``: names, descriptions and the known datasources (no I/O, cheap to import);
- ``search``, ``fetch``, ``datasource``: one module per tool, each a sans-I/O formatter of
  Kimi's answer plus the async call through ``kimi.upstream``;
- ``failures``: every way a call can go wrong, as one readable line for the model;
- ``enabled``: which tools are on (user config, then the project's ``.kimibridge.toml``);
- ``mcp_server``: the MCP server (official SDK), over stdio or streamable HTTP.
"""
