"""rfb's endpoints (endpoints.py) served by aiohttp: rfb's own port, or mounted under a
prefix of an aiohttp application the user already runs (``Server.mount``).

One catch-all route hands each request to ``endpoints.answer`` and turns what it returns
into an aiohttp response, or serves the WebSocket it opens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import endpoints, protocol
from .endpoints import Directory, OpenViewer, RefuseViewer
from .http_messages import MAX_BODY_BYTES, HttpReply, HttpRequest
from .transports import websocket
from .transports.frontend_sockets import AiohttpSocket

log = logging.getLogger("rfb")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_request(request: web.Request, root: str) -> HttpRequest:
    """The plain view of an aiohttp request to routes mounted at ``root``."""
    peer = request.transport.get_extra_info("peername") if request.transport else None

    async def read_body() -> bytes:
        # At most one byte past the limit: enough to refuse a large body, never more.
        data = bytearray()
        while len(data) <= MAX_BODY_BYTES:
            chunk = await request.content.read(MAX_BODY_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    return HttpRequest(
        method=request.method,
        root=root,
        path=request.path[len(root) :],
        query_string=request.query_string,
        headers=request.headers,
        scheme=request.scheme,
        host=request.host,
        remote=(str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None,
        read_body=read_body,
    )


def response(reply: HttpReply) -> web.Response:
    resp = web.Response(status=reply.status, body=reply.body)
    for k, v in reply.all_headers():
        resp.headers.add(k, v)
    return resp


async def reject(request: web.Request, code: int, reason: str) -> web.WebSocketResponse:
    """Accept the upgrade only to close it with an application close code (e.g. 4404)."""
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    await ws.close(code=code, message=reason.encode()[:123])
    return ws


def handler(directory: Directory, root: str = "") -> Handler:
    """The aiohttp handler for every path under ``root`` ("" or a prefix like "/rfb")."""

    async def handle(request: web.Request) -> web.StreamResponse:
        req = http_request(request, root)
        answer = await endpoints.answer(directory, req)
        if isinstance(answer, HttpReply):
            return response(answer)
        if isinstance(answer, RefuseViewer):
            return await reject(request, answer.code, answer.reason)
        assert isinstance(answer, OpenViewer)
        refused = websocket.refusal(answer.stream)
        if refused is not None:
            return await reject(request, protocol.CLOSE_TRY_AGAIN_LATER, refused)
        socket = AiohttpSocket(request)
        await socket.accept()
        await websocket.serve(socket, answer.stream, req, whep_path=answer.whep_path)
        return socket.ws

    return handle


def make_app(directory: Directory) -> web.Application:
    """An aiohttp application serving ``directory``'s streams on rfb's own port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler(directory))
    return app


def mount(app: web.Application, directory: Directory, prefix: str) -> None:
    """``directory``'s streams under ``prefix`` of ``app``: the app's middlewares (its
    sessions, its auth) run first, as for its own routes."""
    handle = handler(directory, prefix)
    app.router.add_route("*", prefix, handle)
    app.router.add_route("*", prefix + "/{tail:.*}", handle)
