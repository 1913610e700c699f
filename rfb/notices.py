"""What the application says to its viewers: JSON messages, the cursor, the clipboard,
pointer-lock requests. Sans I/O: each viewer is a ``send(text)`` its transport gave.

A viewer gets only the kinds it announced in hello's ``features`` (pdum.rfb 0.x clients
announce none, so they never see these messages). The cursor is state, not an event: a
viewer that joins later gets the current one (its own, if one was set for it, else the
stream's). So is who holds the control floor and who is watching (``control``,
``viewers``): a viewer is sent the current ones when it starts listening. Loop thread
only; ``Display`` hops there.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from . import protocol

# A message to viewers is sent as one text message; the same bound as theirs to us.
MAX_NOTICE_BYTES = protocol.MAX_TEXT_MESSAGE_BYTES
MAX_CURSOR_IMAGE_BYTES = protocol.MAX_CURSOR_IMAGE_BYTES
CURSORS = protocol.CURSORS  # CSS cursor keywords, what set_cursor() accepts by name


@dataclass
class _Link:
    send: Callable[[str], None]
    features: frozenset[str]


def cursor_message(
    name: str = "default",
    image: str | bytes | None = None,
    hotspot: tuple[int, int] = (0, 0),
) -> protocol.Cursor:
    """The ``cursor`` message: a CSS cursor name, or an image (PNG bytes, or a data: URL)
    with its hotspot, ``name`` then being what the browser shows where it cannot.
    ValueError for what cannot be sent."""
    if isinstance(image, bytes):
        if name not in CURSORS:  # say the name is wrong before the image
            raise ValueError(f"unknown cursor {name!r}: a CSS cursor name such as 'crosshair'")
        if not image.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError("cursor image bytes must be a PNG")
        image = "data:image/png;base64," + base64.b64encode(image).decode()
    return protocol.Cursor(name, image, hotspot)


class Notices:
    def __init__(self) -> None:
        self._links: dict[str, _Link] = {}
        self._cursor: str | None = None  # encoded, for everyone
        self._cursor_for: dict[str, str] = {}  # encoded, per viewer
        self._state: dict[str, tuple[str, str]] = {}  # message type -> (feature, encoded)
        self.sent: dict[str, int] = {}  # messages sent, by kind

    def open(
        self, client_id: str, send: Callable[[str], None], features: frozenset[str]
    ) -> list[str]:
        """A viewer that can be told things. Returns what it must be sent first (the
        current cursor), for the transport to put right after its config."""
        self._links[client_id] = _Link(send, features)
        first = []
        cursor = self._cursor_for.get(client_id, self._cursor)
        if cursor is not None and "cursor" in features:
            self.sent["cursor"] = self.sent.get("cursor", 0) + 1
            first.append(cursor)
        for feature, text in self._state.values():
            if feature in features:
                self.sent[feature] = self.sent.get(feature, 0) + 1
                first.append(text)
        return first

    def set_state(self, msg: protocol.Notice) -> int:
        """A message that says how things are (who holds the floor, who is watching): sent
        to every viewer that announced its feature now, and to those that join later."""
        text = msg.encode()
        self._state[msg.as_dict()["type"]] = (msg.feature, text)
        return sum(self._deliver(cid, msg.feature, text) for cid in list(self._links))

    def listening(self, client_id: str, feature: str) -> bool:
        link = self._links.get(client_id)
        return link is not None and feature in link.features

    def close(self, client_id: str) -> None:
        self._links.pop(client_id, None)
        self._cursor_for.pop(client_id, None)

    def send(self, msg: protocol.Notice, client_id: str | None = None) -> int:
        """Send ``msg`` to one viewer or all that announced its feature; how many got it.
        Raises TypeError/ValueError for what cannot be sent, KeyError for an unknown
        ``client_id``."""
        text = msg.encode()
        feature = msg.feature
        if feature == "cursor":
            if client_id is None:
                self._cursor = text
                self._cursor_for.clear()
            elif client_id in self._links:
                self._cursor_for[client_id] = text
        if client_id is not None:
            if client_id not in self._links:
                raise KeyError(f"no viewer {client_id!r} on this stream")
            return self._deliver(client_id, feature, text)
        return sum(self._deliver(cid, feature, text) for cid in list(self._links))

    def _deliver(self, client_id: str, feature: str, text: str) -> int:
        link = self._links[client_id]
        if feature not in link.features:
            return 0
        link.send(text)
        self.sent[feature] = self.sent.get(feature, 0) + 1
        return 1
