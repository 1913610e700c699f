"""WebRTC signaling for rfb: WHEP resources and ICE/TURN configuration. No media code."""

from .ice import IceConfig, IceServer, turn_rest_credentials
from .whep import SessionFactory, WhepEndpoint, WhepError, add_routes, check_offer

__all__ = [
    "IceConfig",
    "IceServer",
    "SessionFactory",
    "WhepEndpoint",
    "WhepError",
    "add_routes",
    "check_offer",
    "turn_rest_credentials",
]
