"""`kimibridge run`'s own options are taken out of the harness's arguments; `--` ends them."""

from __future__ import annotations

import pytest

from kimibridge.cli.run import split_options
from kimibridge.errors import ConfigError


def test_own_options_anywhere_before_the_separator() -> None:
    opts = split_options(
        ["-p", "hi", "--offline", "--model=kimibridge/kimi-for-coding-highspeed", "--profile", "w"]
    )
    assert opts.offline is True
    assert opts.model == "kimi-for-coding-highspeed"
    assert opts.profile == "w"
    assert opts.rest == ["-p", "hi"]


def test_after_the_separator_everything_is_the_harness() -> None:
    opts = split_options(["--port", "0", "--", "--model", "x", "--offline", "--"])
    assert opts.port == 0
    assert opts.offline is None and opts.model is None
    assert opts.rest == ["--model", "x", "--offline", "--"]


def test_direct_and_unknown_flags() -> None:
    opts = split_options(["--direct", "--yolo", "--verbose"])
    assert opts.direct is True
    assert opts.rest == ["--yolo", "--verbose"]  # mapped by the harness, not here


@pytest.mark.parametrize("args", [["--model"], ["--port", "x"]])
def test_bad_values(args: list[str]) -> None:
    with pytest.raises(ConfigError):
        split_options(args)
