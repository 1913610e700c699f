"""RED for the WebRTC audio track (RFC 2198, as Chromium's ``audio/red`` for Opus): each
RTP packet carries the previous Opus packet again beside its own, so one lost packet is
rebuilt from the next instead of concealed. Sans I/O: RTP packets (before SRTP) in, RTP
packets out; rfb/transports/aiortc_compat.py puts it between the audio sender and its
DTLS transport.

It is on only while the browser reports loss (receiver reports of the audio stream): a
clean path pays nothing (RED about doubles the audio's 32 kbit/s). It turns on at the
first report of loss over ON_LOSS and off after QUIET_S without any (``LossWatch``; the
same decision turns Opus in-band FEC on for the listener's tier: session/audio.py).
"""

from __future__ import annotations

ON_LOSS = 0.005  # fraction lost over a report span that turns RED on
QUIET_S = 10.0  # ... and this long without loss turns it off
MAX_OFFSET = (1 << 14) - 1  # RFC 2198: 14-bit timestamp offset
MAX_BLOCK = (1 << 10) - 1  # ... 10-bit block length


def rtp_payload_offset(packet: bytes) -> int:
    """Where the payload starts in an RTP packet (after CSRCs and the header extension)."""
    if len(packet) < 12:
        raise ValueError("not an RTP packet")
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # X: a header extension, its length in 32-bit words
        if len(packet) < offset + 4:
            raise ValueError("truncated RTP header extension")
        offset += 4 + 4 * int.from_bytes(packet[offset + 2 : offset + 4], "big")
    if offset > len(packet):
        raise ValueError("truncated RTP packet")
    return offset


def red_payload(primary: bytes, primary_pt: int, previous: tuple[int, bytes] | None) -> bytes:
    """The RED payload: ``previous`` ((timestamp offset, Opus packet) or None) as a
    redundant block, then ``primary``."""
    if previous is None:
        return bytes([primary_pt & 0x7F]) + primary
    ts_offset, data = previous
    header = (0x80 | (primary_pt & 0x7F)).to_bytes(1, "big") + (
        (ts_offset << 10) | len(data)
    ).to_bytes(3, "big")
    return header + bytes([primary_pt & 0x7F]) + data + primary


class LossWatch:
    """Whether the browser reports loss on one audio stream (RTCP receiver reports):
    ``lossy`` from a report with over ON_LOSS lost, until QUIET_S without one."""

    def __init__(self) -> None:
        self.lossy = False
        self._loss_at: float | None = None
        self._report: tuple[int, int] | None = None  # (lost, highest sequence) last seen

    def on_report(self, now: float, packets_lost: int, highest_sequence: int) -> None:
        last, self._report = self._report, (packets_lost, highest_sequence)
        if last is None:
            lossy = packets_lost > 0
        else:
            expected = highest_sequence - last[1]
            lossy = expected > 0 and (packets_lost - last[0]) / expected > ON_LOSS
        if lossy:
            self._loss_at = now
            self.lossy = True
        elif self._loss_at is not None and now - self._loss_at > QUIET_S:
            self.lossy = False


class RedPacker:
    """Rewrites one sender's Opus RTP packets as RED packets while ``enabled`` (while its
    LossWatch says lossy)."""

    def __init__(self, red_pt: int, ssrc: int, watch: LossWatch | None = None) -> None:
        self.red_pt = red_pt
        self.ssrc = ssrc
        self.watch = watch or LossWatch()
        self._previous: tuple[int, bytes] | None = None  # (RTP timestamp, Opus packet)
        self.packets = 0  # sent as RED

    @property
    def enabled(self) -> bool:
        return self.watch.lossy

    @enabled.setter
    def enabled(self, on: bool) -> None:  # until the next report says otherwise
        self.watch.lossy = on

    # -- loss (RTCP receiver reports) --------------------------------------------------

    def on_report(self, now: float, packets_lost: int, highest_sequence: int) -> None:
        self.watch.on_report(now, packets_lost, highest_sequence)

    # -- packets ---------------------------------------------------------------------------

    def rewrite(self, packet: bytes) -> bytes:
        """An Opus RTP packet as it goes (as RED where enabled); others pass unchanged."""
        if len(packet) < 12 or int.from_bytes(packet[8:12], "big") != self.ssrc:
            return packet
        offset = rtp_payload_offset(packet)
        pt = packet[1] & 0x7F
        if pt == self.red_pt:
            return packet
        timestamp = int.from_bytes(packet[4:8], "big")
        payload = packet[offset:]
        previous = None
        if self._previous is not None:
            ts_offset = (timestamp - self._previous[0]) % 2**32
            if 0 < ts_offset <= MAX_OFFSET and len(self._previous[1]) <= MAX_BLOCK:
                previous = (ts_offset, self._previous[1])
        self._previous = (timestamp, payload)
        if not self.enabled:
            return packet
        self.packets += 1
        head = bytes([packet[0], (packet[1] & 0x80) | (self.red_pt & 0x7F)]) + packet[2:offset]
        return head + red_payload(payload, pt, previous)
