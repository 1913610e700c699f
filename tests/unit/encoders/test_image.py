"""The image encoders (rfb/encoders/image.py): JPEG, PNG and WebP decode back to what
was published."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rfb import encoders, patterns
from rfb.encoders.base import EncoderSettings

from support.pixels import quadrant_centres

W, H = 320, 240


def decode_image(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA" if im.mode == "RGBA" else "RGB"))


@pytest.mark.parametrize(("cap", "tol"), [("image/jpeg", 6), ("image/png", 0), ("image/webp", 8)])
def test_images_decode_to_published_pixels(cap: str, tol: int) -> None:
    enc = encoders.create(cap, W, H, EncoderSettings(quality=90))
    img = patterns.test_card(W, H, 1)
    pic = enc.encode(img, False, 0)
    enc.close()
    assert pic.keyframe and pic.codec == cap and (pic.width, pic.height) == (W, H)
    out = decode_image(pic.data)
    assert out.shape == img.shape
    for x, y in quadrant_centres(W, H):
        assert np.abs(out[y, x].astype(int) - img[y, x]).max() <= tol, (cap, x, y)


def test_png_is_lossless_on_a_busy_image_and_keeps_alpha() -> None:
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    enc = encoders.create("image/png", W, H, EncoderSettings())
    out = decode_image(enc.encode(rgba, True, 0).data)
    enc.close()
    assert np.array_equal(out, rgba)


def test_jpeg_accepts_rgba() -> None:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    enc = encoders.create("image/jpeg", W, H, EncoderSettings())
    out = decode_image(enc.encode(rgba, True, 0).data)
    enc.close()
    assert np.abs(out[H // 2, W // 2].astype(int) - (200, 0, 0)).max() <= 4
