"""Which event loop rfb runs when it runs its own: the thread of ``serve_in_thread()`` and
the command line (inside a program's own loop, ``await rfb.serve(...)``, the program's
loop is used; ``uvloop.run(main())`` gives it the same speed).

uvloop (``pip install 'rfb[fast]'``) does in C what asyncio's loop does in Python for every
socket read and write: with hundreds of viewers, each of which acks every frame, that is
a fifth of what a viewer costs the server (docs/guides/scaling.md). ``"auto"`` takes it
where it imports (not on Windows, where it does not exist) and asyncio's loop otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

LOOPS = ("auto", "uvloop", "asyncio")

T = TypeVar("T")


def loop_factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new loop of ``choice``: "uvloop" (an ImportError naming the extra
    where it is missing), "asyncio", or "auto"."""
    if choice not in LOOPS:
        raise ValueError(f"event_loop must be one of {LOOPS}, not {choice!r}")
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ImportError(
                "event_loop='uvloop' needs uvloop: pip install 'rfb[fast]'"
            ) from None
        return asyncio.new_event_loop
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """asyncio.run(main) on a new loop of ``choice``."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
