"""Who gets in and who may drive (rfb/access.py), without sockets: the authenticate hook
(sync, async, view-only, refusing, raising), tokens, and the Bearer header."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import rfb
from rfb.access import Access, AccessPolicy, AuthContext, ViewOnly, bearer_token


async def test_policy_hook_sync_async_view_only_refusal_and_raising() -> None:
    seen: list[AuthContext] = []

    def sync_hook(ctx: AuthContext) -> Any:
        seen.append(ctx)
        return {"alice": "Alice", "viewer": ViewOnly("Vic")}.get(ctx.token or "")

    async def async_hook(ctx: AuthContext) -> Any:
        await asyncio.sleep(0)
        return sync_hook(ctx)

    for hook in (sync_hook, async_hook):
        policy = AccessPolicy(authenticate=hook)
        assert await policy.admit(AuthContext(token="alice")) == Access("Alice")
        assert await policy.admit(AuthContext(token="viewer")) == Access("Vic", view_only=True)
        assert await policy.admit(AuthContext(token="mallory")) is None
        assert await policy.admit(AuthContext()) is None

    def broken(ctx: AuthContext) -> Any:
        raise RuntimeError("database down")

    assert await AccessPolicy(authenticate=broken).admit(AuthContext(token="alice")) is None


async def test_policy_tokens() -> None:
    p = AccessPolicy(token="drive", view_token="watch")
    assert await p.admit(AuthContext(token="drive")) == Access()
    assert await p.admit(AuthContext(token="watch")) == Access(view_only=True)
    assert await p.admit(AuthContext(token="drivex")) is None
    assert await p.admit(AuthContext()) is None
    assert await AccessPolicy().admit(AuthContext()) == Access()
    for bad in (
        dict(authenticate=lambda c: 1, token="t"),
        dict(view_token="w"),
        dict(token="same", view_token="same"),
    ):
        with pytest.raises(ValueError):
            AccessPolicy(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="authenticate= or token="):
        rfb.serve(64, 64, token="t", authenticate=lambda c: "x")


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    for bad in (None, "", "Basic abc", "Bearer", "Bearer  "):
        assert bearer_token(bad) is None


async def test_a_hook_may_return_an_access_that_may_take_the_floor() -> None:
    teacher = Access({"name": "Ms T"}, can_take_control=True)
    policy = AccessPolicy(authenticate=lambda ctx: teacher)
    assert await policy.admit(AuthContext()) is teacher
    assert rfb.Access is Access


def test_a_principals_display_name() -> None:
    from dataclasses import dataclass

    from rfb.access import display_name

    @dataclass
    class User:
        display_name: str

    assert display_name("alice") == "alice"
    assert display_name({"name": "Bob"}) == "Bob"
    assert display_name({"display_name": "Carol", "name": "c"}) == "Carol"
    assert display_name(User("Dan")) == "Dan"
    assert display_name({"name": 5}) is None and display_name(None) is None
    assert display_name(object()) is None
    assert display_name("x" * 100) == "x" * 64
    assert Access({"name": "Eve"}).name == "Eve"
