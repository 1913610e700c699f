"""A user's web application with rfb mounted in it (FastAPI, served by uvicorn). Needs
the dev extra's FastAPI: importorskip("fastapi") before importing this."""

from __future__ import annotations

import fastapi  # module-level: FastAPI resolves the routes' annotations in these globals

import rfb


def fastapi_app(server: rfb.Server) -> object:
    """A user's app: its own routes, a login that sets a session cookie, rfb at /rfb."""
    app = fastapi.FastAPI(lifespan=server.lifespan)

    @app.get("/")
    def home() -> dict[str, str]:
        return {"app": "the app's own route"}

    @app.post("/login/{user}")
    def login(user: str, response: fastapi.Response) -> dict[str, str]:
        response.set_cookie("session", f"signed-{user}")
        return {"user": user}

    app.mount("/rfb", server.asgi(prefix="/rfb"))
    return app


def session_user(ctx: rfb.AuthContext) -> str | None:
    """The authenticate hook: the app's session cookie decides (a real app would check a
    signature; here the login route's format)."""
    cookie = (ctx.cookies or {}).get("session", "")
    return cookie.removeprefix("signed-") if cookie.startswith("signed-") else None
