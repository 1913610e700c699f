"""The WHEP offer check (rfb/signaling/whep.py), fuzzed: any content type and body is a
4xx WhepError or an SDP offer the candidate filter then handles."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from rfb.signaling import WhepError, check_offer
from rfb.signaling.whep import MAX_OFFER_BYTES
from rfb.transports import webrtc

from support.fuzzing import (
    CANDIDATE_HOST,
    allowed_networks,
    check_filter,
    fuzz,
    kept_lines,
    sdp_texts,
)


@st.composite
def offer_bodies(draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["sdp", "sdp", "sdp", "binary", "bad-utf8", "huge"]))
    if how == "binary":
        return draw(st.binary(max_size=200))
    body = draw(sdp_texts()).encode("utf-8", "surrogatepass")
    if how == "bad-utf8":
        i = draw(st.integers(0, len(body)))
        return body[:i] + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc0\xaf"])) + body[i:]
    if how == "huge":
        pad = MAX_OFFER_BYTES - len(body) + draw(st.sampled_from([-1, 0, 1, 10**6]))
        return body + b"a=x\r\n" * (max(0, pad) // 5) + b"a" * (max(0, pad) % 5)
    return body


content_types = st.sampled_from(
    [
        "application/sdp",
        "application/sdp",
        "APPLICATION/SDP; charset=utf-8",
        " application/sdp ",
        "application/sdp;",
        "application/sdp\x00",
        "application/sdpx",
        "text/plain",
        "",
        ";",
        "application/json",
    ]
) | st.text(max_size=30)


def offer_outcome(content_type: str, body: bytes) -> str | None:
    try:
        sdp = check_offer(content_type, body)
    except WhepError as exc:
        assert exc.status in (400, 413, 415), exc.status
        assert isinstance(exc.reason, str) and exc.reason
        return None
    assert isinstance(sdp, str) and sdp == body.decode("utf-8")
    assert len(body) <= MAX_OFFER_BYTES and sdp.startswith("v=0") and "m=video" in sdp
    assert content_type.split(";")[0].strip().lower() == "application/sdp"
    return sdp


@fuzz(200)
@given(content_types, offer_bodies())
def test_whep_check_offer(content_type: str, body: bytes) -> None:
    sdp = offer_outcome(content_type, body)
    if sdp is not None:
        check_filter(sdp)
        with allowed_networks("192.168.0.0/16", "::1/128"):
            check_filter(sdp)
            for line in kept_lines(sdp, webrtc.filter_offer(sdp, strip_mdns=False)):
                m = CANDIDATE_HOST.match(line)
                if m and not m.group(1).lower().endswith(".local"):
                    addr = ipaddress.ip_address(m.group(1).split("%")[0])
                    assert addr in ipaddress.ip_network("192.168.0.0/16") or addr.is_loopback
