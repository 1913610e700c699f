"""Forward error correction in Chromium: with one media packet in ten lost and every
retransmission lost too, the browser rebuilds the packets from rfb's ULPFEC rows and
keeps decoding, without asking for a keyframe; with three adjacent packets in ten lost
(which rows alone cannot repair),
from rows and columns (overlapping masks, rebuilt one after the other). (Without FEC the same losses stall it: 11
frames in 6 s against 168; `benchmarks/bench_loss.py --server-arg=--no-fec` compares
the two on a lossy link.)"""

from __future__ import annotations

import pytest

import rfb
from rfb.rtp import ulpfec

from support.browser import Stream, open_page, wait_for
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

INBOUND = """async () => { const s = await window.rfbView.rtc.pc.getStats(); let o = null;
  s.forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') o = r; });
  return o && { decoded: o.framesDecoded, pli: o.pliCount, lost: o.packetsLost }; }"""


def lossy(paced, lose: tuple[int, ...] = (3,), lose_fec: bool = False) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Lose these of every ten media packets and every retransmission, and every FEC
    packet where ``lose_fec`` (their gap fillers never)."""
    n = {"media": 0, "lost": 0}

    def drop(data: bytes) -> bool:
        if int.from_bytes(data[8:12], "big") != paced._sender._ssrc:
            return True  # RTX
        parts = ulpfec.split(data)
        if parts is None:
            return False  # a gap filler (padding only): not media
        if paced.fec is not None and parts and parts.payload[:1] == bytes((paced.fec.fec_pt,)):
            n["lost"] += lose_fec
            return lose_fec
        n["media"] += 1
        if n["media"] % 10 in lose:
            n["lost"] += 1
            return True
        return False

    send = paced._send  # every packet it sends (media, FEC, resends) goes out here

    async def send_unless_dropped(data: bytes) -> None:
        if not drop(data):
            await send(data)

    paced._send = send_unless_dropped
    return n


@pytest.mark.parametrize(
    ("layout", "lose", "lose_fec"),
    [(ulpfec.FecLayout(4), (3,), False),  # rows: one loss in ten
     (ulpfec.FecLayout(4, columns=True), (3, 4, 5), False),  # rows and columns: three in a row
     (ulpfec.FecLayout(4), (), True)],  # every FEC packet lost: the fillers close the gaps
    ids=["rows", "rows-and-columns", "fec-lost"],
)  # fmt: skip
async def test_fec_rebuilds_lost_packets_in_chromium(browser, layout, lose, lose_fec) -> None:  # type: ignore[no-untyped-def]
    stream = Stream(await rfb.serve(640, 360, port=0, transport="webrtc", ice=LOOPBACK),
                    pattern="scene")  # fmt: skip
    display = stream.display
    ctx, page = await open_page(browser, display.url + "?transport=webrtc&nooverlay",
                                width=640, height=360)  # fmt: skip
    try:
        await wait_for(page, "window.rfbView.stats?.transport === 'webrtc'")
        (peer,) = display.stream.webrtc.sessions.values()
        paced = peer.paced
        assert paced.fec is not None  # Chromium's offer has red and ulpfec
        paced._fec_layout = lambda: layout
        before = await wait_for(page, INBOUND)
        n = lossy(paced, lose, lose_fec)
        # Every loss is repaired: frames keep decoding, and no keyframe is asked for.
        after = await wait_for(page, f"({INBOUND})().then(s => s.decoded >= "
                                     f"{before['decoded']} + 60 && s)")  # fmt: skip
        assert n["lost"] >= 10  # the losses were real...
        if lose_fec:  # ...and every gap an FEC packet left was closed by its filler
            assert after["lost"] == before["lost"]
        else:
            assert after["lost"] >= 10
        assert after["pli"] == before["pli"]
        assert paced.fec.fec_sent > 0
    finally:
        await ctx.close()
        await stream.close()
