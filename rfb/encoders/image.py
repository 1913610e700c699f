"""Still-image encoders: JPEG (libjpeg-turbo via simplejpeg or Pillow), PNG, WebP."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from .base import EncoderSettings, Picture, scaled_size

try:  # simplejpeg encodes straight from NumPy with libjpeg-turbo's fast paths.
    import simplejpeg
except ImportError:  # pragma: no cover - Pillow is the fallback
    simplejpeg = None


# A still (settings.still) on the JPEG path: this quality, no chroma subsampling, so
# text and thin lines are sharp when the scene stops.
STILL_JPEG_QUALITY = 92


class _Scaler:
    """Scales frames to a rung's size (settings.scale < 1) with a box filter."""

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        scale = 1.0 if settings.still else settings.scale
        self.size = scaled_size(width, height, scale)
        self.scaled = self.size != (width, height)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if not self.scaled:
            return pixels
        img = Image.fromarray(pixels).resize(self.size, Image.Resampling.BOX)
        return np.asarray(img)


class JpegEncoder:
    name = "jpeg"
    mime = "image/jpeg"

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        self.still = settings.still
        self.quality = STILL_JPEG_QUALITY if settings.still else settings.quality
        self._scale = _Scaler(width, height, settings)

    def encode(self, pixels: np.ndarray, keyframe: bool, timestamp_us: int) -> Picture:
        pixels = self._scale(pixels)
        h, w, c = pixels.shape
        if simplejpeg is not None:
            data = simplejpeg.encode_jpeg(
                pixels,
                quality=self.quality,
                colorspace="RGB" if c == 3 else "RGBA",
                colorsubsampling="444" if self.still else "420",
                fastdct=not self.still,
            )
        else:
            buf = io.BytesIO()
            Image.fromarray(pixels[..., :3]).save(
                buf, "JPEG", quality=self.quality, subsampling=0 if self.still else 2
            )
            data = buf.getvalue()
        return Picture(data, True, self.mime, w, h)

    def close(self) -> None:
        pass


class _PillowEncoder:
    """Encodes with Pillow; subclasses name the format and its save options."""

    name = ""
    mime = ""
    pil_format = ""

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        self.options = self.save_options(settings)
        self._scale = _Scaler(width, height, settings)

    def save_options(self, settings: EncoderSettings) -> dict[str, object]:
        return {}

    def encode(self, pixels: np.ndarray, keyframe: bool, timestamp_us: int) -> Picture:
        pixels = self._scale(pixels)
        h, w, _ = pixels.shape
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, self.pil_format, **self.options)
        return Picture(buf.getvalue(), True, self.mime, w, h)

    def close(self) -> None:
        pass


class PngEncoder(_PillowEncoder):
    name = "png"
    mime = "image/png"
    pil_format = "PNG"

    def save_options(self, settings: EncoderSettings) -> dict[str, object]:
        # Level 1: PNG is the lossless choice, not the small one; speed matters more.
        return {"compress_level": 1}


class WebpEncoder(_PillowEncoder):
    name = "webp"
    mime = "image/webp"
    pil_format = "WEBP"

    def save_options(self, settings: EncoderSettings) -> dict[str, object]:
        if settings.still:
            return {"quality": STILL_JPEG_QUALITY, "method": 2}
        return {"quality": settings.quality, "method": 0}


# Exact stills: zlib level 1 with no row filter. On a 1280x720 frame of text, lines and
# noise (2 cores, Python 3.12): 9.5 ms, 282 KB; Pillow's PNG (adaptive filters) takes
# 34 ms at level 1 and 35 ms at level 6 for 284/277 KB. Speed matters more than a few
# per cent of bytes: the picture is made once per resting frame, on an encoder thread.
EXACT_PNG_LEVEL = 1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_exact_png(pixels: np.ndarray) -> bytes:
    """The frame as a lossless 8-bit RGB PNG (alpha dropped): IHDR, IDAT, IEND and no
    colour chunks (gAMA, sRGB, iCCP), so a browser draws exactly these values."""
    h, w = int(pixels.shape[0]), int(pixels.shape[1])
    rows = np.empty((h, 1 + 3 * w), np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:].reshape(h, w, 3)[...] = pixels[..., :3]
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit truecolour, no interlace
    return b"".join((
        _PNG_SIGNATURE,
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), EXACT_PNG_LEVEL)),
        _png_chunk(b"IEND", b""),
    ))  # fmt: skip
