"""The relay's RTP URLs (rfb/relay.py) are checked. (The relay over loopback UDP:
tests/integration/test_relay.py.)"""

from __future__ import annotations

import pytest

from rfb.relay import parse_rtp_url


def test_rtp_urls_are_checked() -> None:
    assert parse_rtp_url("rtp://127.0.0.1:5004") == ("127.0.0.1", 5004)
    assert parse_rtp_url("rtp://[::1]:6000") == ("::1", 6000)
    for bad in ("udp://127.0.0.1:5004", "rtp://127.0.0.1", "rtp://:5004", "rtp://h:99999"):
        with pytest.raises(ValueError, match=r"rtp://HOST:PORT"):
            parse_rtp_url(bad)
