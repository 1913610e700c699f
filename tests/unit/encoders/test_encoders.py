"""The encoder registry (rfb/encoders/__init__.py): what can run here, and what cannot."""

from __future__ import annotations

from rfb import encoders


def test_registry_reports_what_can_run() -> None:
    assert encoders.unavailable_reason("image/jpeg") is None
    assert encoders.unavailable_reason("webcodecs/h264-annexb") is None
    assert "no encoder" in encoders.unavailable_reason("video/av1")
