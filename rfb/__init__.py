"""rfb: stream frames rendered in Python to web browsers, and carry their input back.

display = await rfb.serve(1280, 720)      # or, without asyncio: rfb.serve_in_thread(1280, 720)
# several streams on one port: server = await rfb.serve_server(port=8765)
#                              cam = server.add_stream("cam", 640, 480)  # ws://host:8765/cam
display.publish(frame)          # (H, W, 3|4) uint8, from your own loop
for ev in display.poll_events():
    ...
"""

from .access import AuthContext, ViewOnly
from .background import serve_in_thread
from .display import Display, serve, tls_context
from .encoders.base import EncoderUnavailable
from .hosting import Server, serve_server
from .inputs import InputEvent
from .protocol import ProtocolError
from .signaling import IceConfig
from .stream import StreamConfig

__all__ = [
    "AuthContext",
    "Display",
    "EncoderUnavailable",
    "IceConfig",
    "InputEvent",
    "ProtocolError",
    "Server",
    "StreamConfig",
    "ViewOnly",
    "serve",
    "serve_in_thread",
    "serve_server",
    "tls_context",
]
__version__ = "0.1.0"
