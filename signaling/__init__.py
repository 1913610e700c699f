"""WebRTC signaling (WHEP, ICE/TURN configuration). Arrives with the WebRTC transport."""
