"""serve_in_thread(): rfb for programs that have no asyncio event loop of their own.

Most render loops (a simulation step, a robot's control loop, a training script) are
plain synchronous code. This runs the server's event loop on a daemon thread; publish()
and poll_events() are thread-safe, so the caller's loop stays as it is.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
import weakref
from typing import Any

from .display import Display, serve


def serve_in_thread(width: int, height: int, **options: Any) -> Display:
    """Start serving on a thread of its own and return the Display once it listens.

    Takes the same keyword options as ``serve()``. Errors while starting (a port in
    use, a missing extra) are raised here, in the caller's thread. ``display.close()``
    stops the server and the thread; at interpreter exit it is closed cleanly anyway.
    """
    started: concurrent.futures.Future[Display] = concurrent.futures.Future()

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                display = loop.run_until_complete(serve(width, height, **options))
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(display)
            loop.run_until_complete(display.wait_closed())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="rfb-server", daemon=True)
    thread.start()
    display = started.result()
    display.server._thread = thread  # display.close() stops the server and joins it
    atexit.register(_close_at_exit, weakref.ref(display))
    return display


def _close_at_exit(ref: weakref.ref[Display]) -> None:
    display = ref()
    if display is not None and not display.closed:
        display.close()
