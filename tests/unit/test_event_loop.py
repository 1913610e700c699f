"""Which event loop rfb runs when it runs its own (rfb/event_loop.py)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from rfb import event_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_takes_uvloop_where_it_imports() -> None:
    assert event_loop.run(_loop_module(), "auto").startswith("uvloop")
    assert event_loop.run(_loop_module(), "uvloop").startswith("uvloop")
    assert event_loop.run(_loop_module(), "asyncio").startswith("asyncio")


def test_without_uvloop_auto_falls_back_and_uvloop_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where it is not installed
    assert event_loop.run(_loop_module(), "auto").startswith("asyncio")
    with pytest.raises(ImportError, match=r"rfb\[fast\]"):
        event_loop.loop_factory("uvloop")


def test_an_unknown_loop_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="event_loop must be one of"):
        event_loop.loop_factory("trio")
    from rfb.options import ServerOptions

    with pytest.raises(ValueError, match="event_loop"):
        ServerOptions(event_loop="trio")
