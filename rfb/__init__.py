"""rfb: stream frames rendered in Python to web browsers, and carry their input back.

display = await rfb.serve(1280, 720)      # or, without asyncio: rfb.serve_in_thread(1280, 720)
# several streams on one port: server = await rfb.serve_server(port=8765)
#                              cam = server.add_stream("cam", 640, 480)  # ws://host:8765/cam
display.publish(frame)          # (H, W, 3|4) uint8, from your own loop
for ev in display.poll_events():
    ...
"""

from importlib import metadata as _metadata

from .access import Access, AuthContext, ViewOnly
from .api import serve, serve_in_thread, serve_options, serve_server, tls_context
from .display import Display
from .encoders.base import EncoderUnavailable
from .files import UploadInfo
from .inputs import InputEvent
from .options import ServerOptions, StreamOptions
from .protocol import ProtocolError
from .server import Server
from .signaling import IceConfig

StreamConfig = StreamOptions  # its older name

__all__ = [
    "Access",
    "AuthContext",
    "Display",
    "EncoderUnavailable",
    "IceConfig",
    "InputEvent",
    "ProtocolError",
    "Server",
    "ServerOptions",
    "StreamConfig",
    "StreamOptions",
    "UploadInfo",
    "ViewOnly",
    "serve",
    "serve_in_thread",
    "serve_options",
    "serve_server",
    "tls_context",
]
try:  # the version is written once, in pyproject.toml; the installed metadata carries it
    __version__: str = _metadata.version("rfb")
except _metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
    __version__ = "0+unknown"
