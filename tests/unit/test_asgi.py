"""rfb.asgi before its app starts: publishing says what to do, and a server is mounted
once. (Under uvicorn: tests/integration/test_asgi.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import rfb


def test_publish_before_the_app_starts_says_what_to_do() -> None:
    server = rfb.Server()
    cam = server.add_stream("cam", 16, 16)
    server.asgi(prefix="/rfb")
    with pytest.raises(RuntimeError, match="start its server first"):
        cam.publish(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(RuntimeError, match="already started or mounted"):
        server.mount(object(), "/x")  # type: ignore[arg-type]
