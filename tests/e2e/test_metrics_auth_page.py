"""The demo page's stream list when streams have tokens (GET /streams lists a protected
stream only to its token): the page sends its ?token= as a Bearer, and with a view token
(which reads no figures) it lists the open streams."""

from __future__ import annotations

import pytest

import rfb

from support.browser import Stream, open_page, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

OPTIONS = "[...document.querySelectorAll('#stream-select option')].map(o => o.value)"


async def test_the_page_lists_the_streams_its_token_may_see(browser) -> None:
    async with rfb.serve_server(port=0) as server:
        card = Stream(server.add_stream("card", 320, 240, token="drive", view_token="watch"))
        other = Stream(server.add_stream("other", 160, 120, token="drive"))
        open_ = [Stream(server.add_stream(n, 160, 120)) for n in ("public", "public2")]
        try:
            for token, listed in (("drive", ["card", "other", "public", "public2"]),
                                  ("watch", ["public", "public2"])):  # fmt: skip
                ctx, page = await open_page(browser, card.display.url + f"?imageOnly&token={token}")
                try:
                    await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 3")
                    await wait_for(page, "!document.querySelector('#stream-row').hidden")
                    assert await page.evaluate(OPTIONS) == listed
                finally:
                    await ctx.close()
        finally:
            for s in (card, other, *open_):
                s.task.cancel()
