"""Docstring examples in protocol modules are run, so they cannot drift."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["ids", "usage", "sse", "requests", "responses", "streams"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"kimibridge.protocol.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
