"""Origins (rfb/origins.py), sans I/O: normalising, the policy's own origin, listed ones
and none, and a bad origins option named. (Refusals over sockets:
tests/integration/test_origins.py.)"""

from __future__ import annotations

import pytest

import rfb
from rfb.origins import OriginPolicy, normalise


def test_normalise_lowercases_and_drops_default_ports() -> None:
    assert normalise("HTTP://Example.COM:80") == "http://example.com"
    assert normalise("https://a.example:443/") == "https://a.example"
    assert normalise("https://a.example:8443") == "https://a.example:8443"
    assert normalise("http://[::1]:8765") == "http://[::1]:8765"
    for bad in ("a.example", "ftp://a.example", "https://a.example/page", "null", "http://"):
        with pytest.raises(ValueError):
            normalise(bad)


def test_policy_own_origin_listed_ones_and_no_origin() -> None:
    p = OriginPolicy(["https://app.example"])
    own = "http://127.0.0.1:8765"
    assert p.allows(None, own)  # not a web page
    assert p.allows("http://127.0.0.1:8765", own)
    assert p.allows("https://APP.example:443", own)
    assert not p.allows("http://evil.example", own)
    assert not p.allows("http://127.0.0.1:9999", own)  # another port is another origin
    assert not p.allows("null", own)
    assert p.cors_origin("https://app.example") == "https://app.example"
    assert OriginPolicy(["*"]).cors_origin("https://app.example") == "*"


def test_bad_origins_option_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"evil\.example/x"):
        rfb.serve(64, 64, origins=["http://evil.example/x"])
    with pytest.raises(ValueError, match="list of origins"):
        rfb.serve(64, 64, origins="https://app.example")  # type: ignore[arg-type]
