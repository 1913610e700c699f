"""serve_in_thread(): a synchronous program publishes, reads input and stops the server."""

from __future__ import annotations

import asyncio
import socket
import threading

import numpy as np
import pytest

import rfb
from rfb import client, patterns, protocol


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_a_synchronous_program_streams_and_gets_input(event_loop: str) -> None:
    """On either event loop rfb's own thread may run (rfb[fast] brings uvloop)."""
    display = rfb.serve_in_thread(160, 120, port=0, event_loop=event_loop)
    try:
        assert display.server._thread is not None and display.server._thread.is_alive()
        loop = display.server._loop
        assert loop is not None and type(loop).__module__.startswith(event_loop)
        card = patterns.test_card(160, 120, 1)
        display.publish(card)  # from this thread, which runs no event loop

        async def watch_and_click() -> np.ndarray:
            async with client.connect(display.ws_url, [protocol.CAP_JPEG]) as v:
                frame = await v.next_frame(decode=True)
                await v.send_event({"type": "pointer_down", "x": 12, "y": 34, "button": 0,
                                    "buttons": [0], "modifiers": []})  # fmt: skip
                return frame.pixels

        pixels = asyncio.run(watch_and_click())
        assert np.abs(pixels[30, 40].astype(int) - card[30, 40]).max() <= 6
        events = []
        for _ in range(200):
            events += display.poll_events()
            if events:
                break
            threading.Event().wait(0.01)
        assert events and events[0].event["type"] == "pointer_down"
        assert (events[0].event["x"], events[0].event["y"]) == (12, 34)
    finally:
        display.close()
    assert display.closed and not display.server._thread.is_alive()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", display.port), 1):
        pass  # nothing listens any more
    with pytest.raises(RuntimeError, match="closed"):
        display.publish(patterns.test_card(160, 120, 2))
    display.close()  # twice is fine


def test_a_synchronous_program_adds_and_removes_streams() -> None:
    """From the thread that called serve_in_thread(): add_stream() and remove_stream()
    run on the server's loop and return when done."""
    display = rfb.serve_in_thread(64, 48, port=0)
    try:
        cam = display.server.add_stream("cam", 96, 64)
        cam.publish(patterns.test_card(96, 64, 1))

        async def watch() -> tuple[int, int]:
            async with client.connect(cam.ws_url, [protocol.CAP_JPEG]) as v:
                f = await v.next_frame()
                return f.header["width"], f.header["height"]

        assert asyncio.run(watch()) == (96, 64)
        assert display.server.remove_stream("cam") is None
        assert cam.closed and display.server.streams == ["default"]
    finally:
        display.close()


def test_start_errors_reach_the_caller() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            rfb.serve_in_thread(64, 48, port=busy.getsockname()[1])
    with pytest.raises(TypeError):
        rfb.serve_in_thread(64, 48, colour="blue")  # not an option of serve()


async def test_close_on_the_loop_thread_says_to_await(serving) -> None:
    display, _ = await serving(64, 48, pattern=None)
    with pytest.raises(RuntimeError, match="aclose"):
        display.close()


def test_a_script_that_never_closes_still_exits() -> None:
    import subprocess
    import sys

    code = ("import numpy as np, rfb; d = rfb.serve_in_thread(64, 48, port=0); "
            "d.publish(np.zeros((48, 64, 3), np.uint8)); print(d.port)")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 0 and "Traceback" not in r.stderr
