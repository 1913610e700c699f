"""Encoder backends behind one interface, and the registry negotiation picks from."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from .. import protocol
from .base import (
    CHROMA_420,
    CHROMA_444,
    CHROMAS,
    Encoder,
    EncoderSettings,
    EncoderUnavailable,
    Picture,
)

__all__ = [
    "CHROMAS",
    "CHROMA_420",
    "CHROMA_444",
    "Encoder",
    "EncoderSettings",
    "EncoderSpec",
    "EncoderUnavailable",
    "Picture",
    "create",
    "open_encoder_count",
    "spec_for",
    "unavailable_reason",
]


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    name: str
    capability: str  # the protocol capability a viewer must list
    is_video: bool
    factory: Callable[..., Encoder]  # (width, height, settings[, device]) -> Encoder
    probe: Callable[[], None]  # raises EncoderUnavailable when it cannot run here


def _jpeg(w: int, h: int, s: EncoderSettings) -> Encoder:
    from .image import JpegEncoder

    return JpegEncoder(w, h, s)


def _png(w: int, h: int, s: EncoderSettings) -> Encoder:
    from .image import PngEncoder

    return PngEncoder(w, h, s)


def _webp(w: int, h: int, s: EncoderSettings) -> Encoder:
    from .image import WebpEncoder

    return WebpEncoder(w, h, s)


def _x264(w: int, h: int, s: EncoderSettings) -> Encoder:
    from .x264 import X264Encoder

    return X264Encoder(w, h, s)


def _h264(w: int, h: int, s: EncoderSettings, device: bool = False) -> Encoder:
    """NVENC when it opens a session here, else libx264 (GPU conversion for device frames).

    A still (one constant-quality IDR of a scene at rest) and constant quality (``crf``)
    are always libx264's, and so is 4:4:4 chroma (gpu.choose_h264_backend).
    """
    if s.still or s.crf is not None:
        return _x264(w, h, s)
    from . import gpu, nvenc

    # 4:4:4 never takes NVENC, so it need not open a session to find out whether it could.
    nvenc_reason = "not for 4:4:4" if s.chroma == CHROMA_444 else nvenc.nvenc_unavailable_reason()
    backend, why = gpu.choose_h264_backend(
        device, nvenc_reason, gpu.cupy_unavailable_reason() if device else None, s.chroma
    )
    gpu.log_choice(backend, why, device, s.chroma)
    if backend == gpu.NVENC:
        from .nvenc import NvencEncoder

        return NvencEncoder(w, h, s)
    return _x264(w, h, s)


def _probe_x264() -> None:
    from .x264 import load_av

    load_av()


def _always() -> None:
    return None


# One spec per capability; the H.264 one picks NVENC or libx264 per encoder (encoders/gpu.py).
REGISTRY: dict[str, EncoderSpec] = {
    protocol.CAP_H264: EncoderSpec("h264", protocol.CAP_H264, True, _h264, _probe_x264),
    protocol.CAP_JPEG: EncoderSpec("jpeg", protocol.CAP_JPEG, False, _jpeg, _always),
    protocol.CAP_PNG: EncoderSpec("png", protocol.CAP_PNG, False, _png, _always),
    protocol.CAP_WEBP: EncoderSpec("webp", protocol.CAP_WEBP, False, _webp, _always),
}


def spec_for(capability: str) -> EncoderSpec:
    return REGISTRY[capability]


def unavailable_reason(capability: str) -> str | None:
    """None when the capability's encoder can run here, else why not."""
    spec = REGISTRY.get(capability)
    if spec is None:
        return f"no encoder for {capability}"
    try:
        spec.probe()
    except EncoderUnavailable as exc:
        return str(exc)
    return None


_open = 0
_open_lock = threading.Lock()


class _Counted:
    """Wraps an encoder so tests and /metrics can see how many are open."""

    def __init__(self, inner: Encoder) -> None:
        global _open
        self._inner: Encoder | None = inner
        self.accepts_device = bool(getattr(inner, "accepts_device", False))
        self.name = str(getattr(inner, "name", type(inner).__name__))
        with _open_lock:
            _open += 1

    def encode(self, pixels, keyframe, timestamp_us):  # type: ignore[no-untyped-def]
        assert self._inner is not None, "encoder used after close"
        return self._inner.encode(pixels, keyframe, timestamp_us)

    def close(self) -> None:
        global _open
        inner, self._inner = self._inner, None
        if inner is not None:
            try:
                inner.close()
            finally:
                with _open_lock:
                    _open -= 1


def create(
    capability: str, width: int, height: int, settings: EncoderSettings, device: bool = False
) -> Encoder:
    """An encoder for frames of this size; ``device``: the frames are CuPy arrays."""
    spec = REGISTRY[capability]
    if spec.is_video:
        return _Counted(spec.factory(width, height, settings, device))
    return _Counted(spec.factory(width, height, settings))


def open_encoder_count() -> int:
    return _open
