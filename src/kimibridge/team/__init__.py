"""Teams of coding agents in tmux: profiles, a SQLite store, screen status, providers, runtime.

Import the modules themselves (``kimibridge.team.store``, ``kimibridge.team.runtime``, ...);
this package re-exports nothing so importing one part never loads the others.
"""

__all__: list[str] = []
