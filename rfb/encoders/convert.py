"""RGB -> YUV 4:2:0 colour conversion: one matrix and range for every encoder.

All H.264 paths convert with the BT.601 matrix into limited ("TV") range and say so in
the stream's VUI, so a browser decodes the colours the user published. BT.601 rather
than BT.709 because Chromium's software YUV->RGB path (libyuv) stores the blue
coefficient in a signed 8-bit fixed-point slot: BT.709's 2.112 is clamped to 2.0 and
saturated colours come out up to ~9 levels off in blue, while BT.601's 2.018 loses
less than one level (measured in headless Chromium: docs/architecture.md, "Colour").
The NumPy functions here are the reference the fast paths (swscale, CUDA) are tested
against.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KR, KB = 0.299, 0.114  # BT.601
KG = 1.0 - KR - KB

# How the stream is tagged (ISO/IEC 23091-2 code points) and named for WebCodecs.
VUI_PRIMARIES = 1  # BT.709 (the sRGB primaries)
VUI_TRANSFER = 13  # IEC 61966-2-1 (sRGB): the published pixels are sRGB
VUI_MATRIX = 6  # SMPTE 170M, i.e. the BT.601 matrix
FULL_RANGE = False
SWSCALE_COLORSPACE = "ITU601"
SWSCALE_RANGE = "MPEG"  # limited range
X264_COLOUR_PARAMS = "colorprim=bt709:transfer=iec61966-2-1:colormatrix=smpte170m:range=tv"
WEBCODECS_COLOR: dict[str, Any] = {
    "primaries": "bt709",
    "transfer": "iec61966-2-1",
    "matrix": "smpte170m",
    "full_range": False,
    "bit_depth": 8,
}

# Rows map (R, G, B) in 0..255 to (Y, Cb, Cr) in limited range, before offsets.
RGB_TO_YUV = np.array(
    [
        [KR, KG, KB],
        [-KR / (2 * (1 - KB)), -KG / (2 * (1 - KB)), 0.5],
        [0.5, -KG / (2 * (1 - KR)), -KB / (2 * (1 - KR))],
    ]
) * np.array([[219 / 255], [224 / 255], [224 / 255]])
YUV_OFFSETS = np.array([16.0, 128.0, 128.0])


def even_size(width: int, height: int) -> tuple[int, int]:
    """4:2:0 needs even dimensions; odd ones are padded by one edge row/column."""
    return width + (width & 1), height + (height & 1)


def pad_to_even(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    ew, eh = even_size(w, h)
    if (ew, eh) == (w, h):
        return rgb
    return np.pad(rgb, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")


def rgb_to_i420_reference(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference RGB(A) -> I420 planes (Y full size, U and V half size), rounded.

    Chroma is computed from the 2x2 average of RGB, as swscale and our GPU kernel do.
    """
    rgb = pad_to_even(np.asarray(rgb)[..., :3]).astype(np.float64)
    y = rgb @ RGB_TO_YUV[0] + YUV_OFFSETS[0]
    h, w = rgb.shape[:2]
    avg = rgb.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    u = avg @ RGB_TO_YUV[1] + YUV_OFFSETS[1]
    v = avg @ RGB_TO_YUV[2] + YUV_OFFSETS[2]

    def q(p: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(p), 0, 255).astype(np.uint8)

    return q(y), q(u), q(v)


def i420_to_rgb_reference(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inverse of the reference conversion (nearest-neighbour chroma), for tests."""
    uu = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)[: y.shape[0], : y.shape[1]]
    vv = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)[: y.shape[0], : y.shape[1]]
    yuv = np.stack([y, uu, vv], axis=-1).astype(np.float64) - YUV_OFFSETS
    rgb = yuv @ np.linalg.inv(RGB_TO_YUV).T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
