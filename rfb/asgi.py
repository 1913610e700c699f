"""rfb's endpoints as an ASGI application, for Starlette, FastAPI and any ASGI server.

    server = rfb.Server()
    cam = server.add_stream("cam", 1280, 720)
    app = FastAPI(lifespan=server.lifespan)       # binds rfb to the app's event loop
    app.mount("/rfb", server.asgi(prefix="/rfb"))  # ws://host/rfb/cam, /rfb/cam/whep, ...

The app's own server, TLS, routing and middlewares stay in charge: the WebSocket and the
WHEP offer reach rfb as the app received them, so an ``authenticate`` hook sees the app's
session cookies and headers. The same paths as on rfb's own port (endpoints.py), below
the mount point. Pure ASGI: no dependency beyond an ASGI server that speaks WebSocket
(uvicorn with ``websockets`` or ``wsproto``: the ``asgi`` extra).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from . import endpoints, protocol
from .endpoints import OpenViewer, RefuseViewer
from .http_messages import MAX_BODY_BYTES, HttpReply, HttpRequest, headers_from, text
from .stream import DEFAULT_STREAM
from .transports import websocket
from .transports.frontend_sockets import AsgiSocket, Receive, Scope, Send

if TYPE_CHECKING:
    from .display import Display
    from .server import Server


def _request(scope: Scope, receive: Receive) -> HttpRequest:
    # ASGI servers since the 2023 spec put the mount point in root_path and keep the whole
    # path in path; older ones strip it. Either way, rfb's part is what follows root_path.
    root = str(scope.get("root_path", "")).rstrip("/")
    path = str(scope["path"])
    if root and path.startswith(root):
        path = path[len(root) :]
    headers = headers_from(
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())
    )
    is_ws = scope["type"] == "websocket"
    scheme = str(scope.get("scheme", "ws" if is_ws else "http"))
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    host = headers.get("Host")
    if host is None and scope.get("server"):
        server_host, server_port = scope["server"]
        host = f"{server_host}:{server_port}"
    client = scope.get("client")

    async def read_body() -> bytes:
        data = bytearray()
        while len(data) <= MAX_BODY_BYTES:
            event = await receive()
            if event["type"] != "http.request":
                break  # http.disconnect
            data += event.get("body", b"")
            if not event.get("more_body", False):
                break
        return bytes(data)

    return HttpRequest(
        method=str(scope.get("method", "GET")),
        root=root,
        path=path,
        query_string=bytes(scope.get("query_string", b"")).decode("latin-1"),
        headers=headers,
        scheme=scheme,
        host=host or "",
        remote=(str(client[0]), int(client[1])) if client else None,
        read_body=read_body,
        websocket=is_ws,
    )


def _encode_headers(reply: HttpReply) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.all_headers()]


class AsgiApp:
    """What ``Server.asgi()`` returns. Mount it under a prefix, or serve it alone."""

    def __init__(self, server: Server) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        self.server.attach_loop()  # no lifespan reached us (mounted): the first request
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                self.server.attach_loop()
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await self.server.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = _request(scope, receive)
        answer = await endpoints.answer(self.server, request)
        if not isinstance(answer, HttpReply):
            # An upgrade the ASGI server did not treat as one: it lacks WebSocket support.
            answer = text(
                "this ASGI server does not speak WebSocket here: install the 'websockets' "
                "package (pip install 'rfb[asgi]')\n",
                426,
            )
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": _encode_headers(answer)})  # fmt: skip
        body = b"" if request.method.upper() == "HEAD" else answer.body
        await send({"type": "http.response.body", "body": body})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return  # the client left before the handshake was answered
        request = _request(scope, receive)
        answer = await endpoints.answer(self.server, request)
        await _serve_websocket(scope, receive, send, request, answer)


async def _serve_websocket(
    scope: Scope, receive: Receive, send: Send, request: HttpRequest, answer: endpoints.Answer
) -> None:
    """Act on the endpoints' answer to a WebSocket handshake (already connected)."""
    socket = AsgiSocket(receive, send)
    if isinstance(answer, HttpReply):  # e.g. 403 for a page on a foreign origin
        await _deny(scope, send, answer)
        return
    if isinstance(answer, RefuseViewer):
        await socket.accept()
        await socket.close(answer.code, answer.reason)
        return
    assert isinstance(answer, OpenViewer)
    refused = websocket.refusal(answer.stream)
    await socket.accept()
    if refused is not None:
        await socket.close(protocol.CLOSE_TRY_AGAIN_LATER, refused)
        return
    await websocket.serve(socket, answer.stream, request, whep_path=answer.whep_path)


async def _deny(scope: Scope, send: Send, reply: HttpReply) -> None:
    """Refuse the handshake with an HTTP status, where the server lets us say which."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": reply.status,
                    "headers": _encode_headers(reply)})  # fmt: skip
        await send({"type": "websocket.http.response.body", "body": reply.body})
    else:
        await send({"type": "websocket.close", "code": 1008})  # the server sends 403


StarletteEndpoint = Callable[[Any], Awaitable[None]]


def rfb_hub_endpoint(server: Server, *, param: str = "stream") -> StarletteEndpoint:
    """pdum.rfb's name: a Starlette WebSocket endpoint for the route of your choosing,
    whose path parameter ``param`` names the stream (absent: ``default``), e.g.
    ``app.add_websocket_route("/rfb/{stream}", rfb_hub_endpoint(server))``. An unknown
    stream closes 4404. Only the WebSocket: ``server.asgi()`` also serves the pages,
    WHEP, ``/streams`` and metrics. Pair it with ``server.lifespan`` as well."""

    async def endpoint(ws: Any) -> None:
        name = str(ws.path_params.get(param, DEFAULT_STREAM))
        await _endpoint(server, name, ws)

    return endpoint


def rfb_endpoint(display: Display) -> StarletteEndpoint:
    """pdum.rfb's name: a Starlette WebSocket endpoint that serves one stream, on any
    route: ``app.add_websocket_route("/cam", rfb_endpoint(display))``. The stream's
    options (authenticate, fps, ...) are the ones it was added with."""

    async def endpoint(ws: Any) -> None:
        # Displays come from rfb.Server (Display.server is typed as the little it uses).
        await _endpoint(cast("Server", display.server), display.stream.name, ws)

    return endpoint


async def _endpoint(server: Server, name: str, ws: Any) -> None:
    # Starlette's WebSocket: its scope, and its receive/send, which track its state.
    scope, receive, send = ws.scope, ws.receive, ws.send
    if (await receive())["type"] != "websocket.connect":
        return
    server.attach_loop()
    request = _request(scope, receive)
    await _serve_websocket(scope, receive, send, request,
                           endpoints.viewer_for(server, request, name))  # fmt: skip

