"""Envelopes packed by the Python side, for the TypeScript tests to unpack byte for byte.

    python tests/support/browser_fixtures.py   # rewrites browser/tests/fixtures/python.json
                                               # and close-codes.json

tests/unit/test_browser_build.py fails when the committed file differs from this output.
"""

from __future__ import annotations

import json
from pathlib import Path

from rfb import protocol
from rfb.encoders import convert

FIXTURES = Path(__file__).resolve().parents[2] / "browser" / "tests" / "fixtures"
OUT = FIXTURES / "python.json"
CLOSE_CODES = FIXTURES / "close-codes.json"


def cases() -> list[dict]:
    def case(name: str, header: dict, payload: bytes) -> dict:
        return {
            "name": name,
            "header": header,
            "payloadHex": payload.hex(),
            "packedHex": protocol.pack_envelope(header, payload).hex(),
        }

    return [
        case(
            "image_jpeg",
            protocol.ImageFrameHeader(
                seq=0, timestamp_us=0, width=1280, height=720, mime="image/jpeg"
            ).as_dict(),
            b"\xff\xd8\xff\xe0\x00\x10JFIF",
        ),
        case(
            "image_png_pixel_ratio",
            protocol.ImageFrameHeader(
                seq=9, timestamp_us=123456, width=3, height=5, mime="image/png", pixel_ratio=2.0
            ).as_dict(),
            b"\x89PNG\r\n\x1a\n",
        ),
        case(
            "video_keyframe_with_color",
            protocol.VideoChunkHeader(
                seq=1,
                timestamp_us=33333,
                width=1280,
                height=720,
                codec="avc1.42C01F",
                keyframe=True,
                duration_us=33333,
                color=convert.WEBCODECS_COLOR,
            ).as_dict(),
            b"\x00\x00\x00\x01\x67\x42\xc0\x1f\x00\x00\x00\x01\x68\xce\x00\x00\x01\x65\x88",
        ),
        case(
            "video_delta",
            protocol.VideoChunkHeader(
                seq=2**40,
                timestamp_us=2**45,
                width=162,
                height=122,
                codec="avc1.42C00C",
                keyframe=False,
                duration_us=16667,
            ).as_dict(),
            b"\x00\x00\x00\x01\x41\x9a",
        ),
        case(
            "empty_payload_unicode",
            {"type": "image_frame", "seq": 3, "note": "Grüße ✓ 🎞", "width": 1, "height": 1},
            b"",
        ),
    ]


def render() -> str:
    return json.dumps(cases(), indent=1, ensure_ascii=False) + "\n"


def render_close_codes() -> str:
    """protocol.CloseCode by name: browser/src/close-codes.ts must say the same."""
    return json.dumps({c.name: int(c) for c in protocol.CloseCode}, indent=1) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    CLOSE_CODES.write_text(render_close_codes(), encoding="utf-8")
    print(f"wrote {OUT} and {CLOSE_CODES}")
