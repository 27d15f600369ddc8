"""kimibridge: one Kimi For Coding login, one local endpoint for every coding agent."""

from kimibridge._version import __version__

__all__ = ["__version__"]
