"""WebRTC signaling for rfb: WHEP resources and ICE/TURN configuration. No media code."""

from .ice import IceConfig, IceServer, turn_rest_credentials
from .whep import SessionFactory, WhepEndpoint, WhepError, check_offer, respond

__all__ = [
    "IceConfig",
    "IceServer",
    "SessionFactory",
    "WhepEndpoint",
    "WhepError",
    "check_offer",
    "respond",
    "turn_rest_credentials",
]
