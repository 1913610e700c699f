"""display.widget() outside a browser: the traits it gives the page, and the key that
lets the notebook's page past the origin check (and nothing else past it)."""

from __future__ import annotations

import aiohttp
import pytest

import rfb
from rfb import client, protocol

from support.servers import publishing

pytest.importorskip("anywidget", reason="needs the notebook extra: pip install -e '.[dev]'")

JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]
LAB = "http://127.0.0.1:8888"  # where a notebook page would come from


async def test_widget_traits_and_its_key_admit_the_notebook_page_only() -> None:
    async with rfb.serve_server(port=0) as server:
        cam = server.add_stream("cam", 160, 120, token="s3cret")
        w = cam.widget(height=300)
        assert type(w).__name__ == "RfbViewer" and w.show_stats and w.show_toolbar
        assert (w.port, w.stream, w.host, w.height, w.token) == (server.port, "cam", "127.0.0.1", 300, "s3cret")
        assert w.transport == "websocket" and not w.secure and len(w.key) >= 20
        bare = cam.widget(batteries=False, host="0.0.0.0")
        assert type(bare).__name__ == "RfbCanvas" and bare.host == "auto" and bare.key != w.key
        assert cam.widget(base_path="/proxy/8765").base_path == "/proxy/8765"
        async with publishing(cam):
            url = f"{cam.ws_url}?rfb_key={w.key}"
            # JupyterLab's origin, and a VS Code webview's (not even an http origin).
            for origin in (LAB, "vscode-webview://1c2f8a0e5b"):
                async with client.connect(url, JPEG, token="s3cret",
                                          headers={"Origin": origin}) as v:  # fmt: skip
                    assert (await v.next_frame(decode=True)).pixels.shape == (120, 160, 3)
            async with aiohttp.ClientSession() as http:
                for wrong in ("", "?rfb_key=guess", f"?rfb_key={w.key}x"):
                    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                        await http.ws_connect(cam.ws_url + wrong, headers={"Origin": LAB})
                    assert refused.value.status == 403
            # The key stands in for the origin only: the token is still asked for.
            async with client.connect(url, JPEG, headers={"Origin": LAB}) as v:
                assert (await v.wait_closed())[0] == rfb.protocol.CLOSE_UNAUTHORIZED


async def test_widget_of_a_webrtc_stream_uses_auto_and_a_mounted_one_its_url() -> None:
    pytest.importorskip("aiortc")
    async with rfb.serve_server(port=0) as server:
        assert server.add_stream("rtc", 64, 48, transport="webrtc").widget().transport == "auto"
    mounted = rfb.Server()
    cam = mounted.add_stream("cam", 64, 48)
    mounted.asgi(prefix="/rfb", port=8000)
    mounted.attach_loop()
    assert cam.widget().url == "ws://127.0.0.1:8000/rfb/cam"
    await mounted.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        cam.widget()


