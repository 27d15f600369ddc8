"""Harnesses: run and set up Claude Code, pi, opencode and kimi-cli on Kimi through the gateway."""
