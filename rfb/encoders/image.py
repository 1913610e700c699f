"""Still-image encoders: JPEG (libjpeg-turbo via simplejpeg or Pillow), PNG, WebP."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .base import EncoderSettings, Picture

try:  # simplejpeg encodes straight from NumPy with libjpeg-turbo's fast paths.
    import simplejpeg
except ImportError:  # pragma: no cover - Pillow is the fallback
    simplejpeg = None


class JpegEncoder:
    name = "jpeg"
    mime = "image/jpeg"

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        self.quality = settings.quality

    def encode(self, pixels: np.ndarray, keyframe: bool, timestamp_us: int) -> Picture:
        h, w, c = pixels.shape
        if simplejpeg is not None:
            data = simplejpeg.encode_jpeg(
                pixels,
                quality=self.quality,
                colorspace="RGB" if c == 3 else "RGBA",
                colorsubsampling="420",
                fastdct=True,
            )
        else:
            buf = io.BytesIO()
            Image.fromarray(pixels[..., :3]).save(buf, "JPEG", quality=self.quality, subsampling=2)
            data = buf.getvalue()
        return Picture(data, True, self.mime, w, h)

    def close(self) -> None:
        pass


class PngEncoder:
    name = "png"
    mime = "image/png"

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        pass

    def encode(self, pixels: np.ndarray, keyframe: bool, timestamp_us: int) -> Picture:
        h, w, _ = pixels.shape
        buf = io.BytesIO()
        # Level 1: PNG is the lossless choice, not the small one; speed matters more.
        Image.fromarray(pixels).save(buf, "PNG", compress_level=1)
        return Picture(buf.getvalue(), True, self.mime, w, h)

    def close(self) -> None:
        pass


class WebpEncoder:
    name = "webp"
    mime = "image/webp"

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        self.quality = settings.quality

    def encode(self, pixels: np.ndarray, keyframe: bool, timestamp_us: int) -> Picture:
        h, w, _ = pixels.shape
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "WEBP", quality=self.quality, method=0)
        return Picture(buf.getvalue(), True, self.mime, w, h)

    def close(self) -> None:
        pass
