"""Still-image encoders: JPEG (libjpeg-turbo via simplejpeg or Pillow), PNG, WebP."""

from __future__ import annotations

import io

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
