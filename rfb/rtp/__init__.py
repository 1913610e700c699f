"""RTP, sans I/O: bytes in, bytes out; every clock passed in. Nothing here imports a
transport or the hub (tests/unit/test_layers.py checks), and this file imports nothing,
so ``from rfb.rtp import ulpfec`` loads only what it names.

* ``h264``: H.264 over plain RTP (RFC 6184) for the RTP relay (rfb/relay.py): the
  packetiser, RTCP sender reports and feedback, SDP.
* ``header``: RTP header extensions aiortc cannot write (playout-delay) and the
  zeroing of those a receiver rewrites (abs-send-time).
* ``ulpfec``: RED (RFC 2198) + ULPFEC (RFC 5109) for WebRTC, and the renumbering they need.
* ``pacer``: when each WebRTC packet may leave (a token bucket), and ``pacing_rate``, the
  policy that sets its rate from the rung's cost and the path's estimate.
"""
