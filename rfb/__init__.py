"""rfb: stream frames rendered in Python to web browsers, and carry their input back.

display = await rfb.serve(1280, 720)      # or, without asyncio: rfb.serve_in_thread(1280, 720)
display.publish(frame)          # (H, W, 3|4) uint8, from your own loop
for ev in display.poll_events():
    ...
"""

from .access import AuthContext, ViewOnly
from .background import serve_in_thread
from .display import Display, InputEvent, serve, tls_context
from .encoders.base import EncoderUnavailable
from .protocol import ProtocolError
from .signaling import IceConfig

__all__ = [
    "AuthContext",
    "Display",
    "EncoderUnavailable",
    "IceConfig",
    "InputEvent",
    "ProtocolError",
    "ViewOnly",
    "serve",
    "serve_in_thread",
    "tls_context",
]
__version__ = "0.1.0"
