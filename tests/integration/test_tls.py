"""HTTPS and WSS: what viewers on other machines need for H.264 in their browsers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import numpy as np
import pytest

import rfb
from rfb import client, patterns, protocol

from support.tls import self_signed


@pytest.fixture
def cert(tmp_path: Path) -> tuple[str, str]:
    return self_signed(tmp_path)


async def test_https_and_wss_serve_the_same_stream(serving, cert) -> None:
    display, _ = await serving(160, 120, pattern=None, ssl_context=rfb.tls_context(*cert))
    assert display.url.startswith("https://") and display.ws_url.startswith("wss://")
    card = patterns.test_card(160, 120, 1)
    display.publish(card)
    async with aiohttp.ClientSession() as http:
        async with http.get(display.url + "health", ssl=False) as r:
            assert r.status == 200 and await r.text() == "ok"
        async with http.get(display.url, ssl=False) as r:
            assert r.status == 200 and "<html" in (await r.text()).lower()  # the demo page
    async with client.connect(display.ws_url, [protocol.CAP_JPEG], ssl=False) as v:
        frame = await v.next_frame(decode=True)
    assert np.abs(frame.pixels[30, 40].astype(int) - card[30, 40]).max() <= 6
    # A plain-text client gets nothing from a TLS port.
    with pytest.raises(aiohttp.ClientError):
        async with client.connect("ws" + display.url.removeprefix("https")):
            pass


def test_cli_serves_tls_and_names_a_bad_certificate(tmp_path: Path, cert) -> None:
    r = subprocess.run([sys.executable, "-m", "rfb.server", "--port", "0", "--certfile",
                        str(tmp_path / "missing.pem")], capture_output=True, text=True,
                       timeout=60)  # fmt: skip
    assert r.returncode == 1 and "rfb:" in r.stderr and "No such file" in r.stderr
    proc = subprocess.Popen([sys.executable, "-m", "rfb.server", "--port", "0", "--certfile",
                             cert[0], "--keyfile", cert[1]], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "at https://127.0.0.1:" in line, line
    finally:
        proc.terminate()
        proc.wait(10)
