"""RGB to YUV 4:2:0 (rfb/encoders/convert.py): PyAV frames that wrap or copy planes, the
fast CPU paths (swscale, OpenCV) and the array-module code (NumPy here, CuPy on a GPU)
against the reference matrix, and the packed layouts."""

from __future__ import annotations

import numpy as np
import pytest

from rfb import patterns
from rfb.encoders import convert

from support.gpu import needs_cuda
from support.pixels import yuv_planes


def test_yuv420p_frame_wraps_the_planes_it_can_and_copies_the_rest_exactly() -> None:
    av = pytest.importorskip("av")
    for w in range(2, 130, 2):
        for h in range(2, 42, 2):
            packed = np.random.default_rng(w * h).integers(0, 256, (h * 3 // 2, w), np.uint8)
            frame = convert.yuv420p_frame(av, packed)
            assert (frame.width, frame.height) == (w, h)
            want = [packed[:h], packed.reshape(-1)[w * h : w * h * 5 // 4].reshape(h // 2, w // 2),
                    packed.reshape(-1)[w * h * 5 // 4 :].reshape(h // 2, w // 2)]  # fmt: skip
            for got, plane in zip(yuv_planes(frame), want, strict=True):
                assert np.array_equal(got, plane), (w, h)
    packed = np.zeros((1080, 1280), np.uint8)  # 1280x720: wrapped, not copied
    frame = convert.yuv420p_frame(av, packed)
    packed[0, 0] = 77
    assert yuv_planes(frame)[0][0, 0] == 77


@pytest.mark.parametrize("path", ["swscale", "opencv"])
@pytest.mark.parametrize(
    ("width", "height", "channels"),
    [(1280, 720, 3), (1280, 720, 4), (641, 481, 3), (641, 481, 4), (34, 18, 3)],
)
def test_fast_conversion_paths_match_the_reference(
    path: str, width: int, height: int, channels: int
) -> None:
    """Both CPU conversions x264 may take (swscale, sliced over threads from 640x480 up,
    and OpenCV's), against the NumPy reference on content with every colour: within one
    level in every plane, odd sizes padded as the reference pads them."""
    import av

    rng = np.random.default_rng(width + channels)
    img = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    ew, eh = convert.even_size(width, height)
    if path == "swscale":
        planes = yuv_planes(convert.swscale_i420(av, img, ew, eh))
    else:
        import cv2  # in the dev extra, so this runs wherever the suite does

        packed = convert.opencv_i420(cv2, img)
        assert packed.shape == (eh * 3 // 2, ew)
        q = ew * eh // 4
        chroma = packed[eh:].reshape(-1)
        planes = [packed[:eh], chroma[:q].reshape(eh // 2, ew // 2),
                  chroma[q:].reshape(eh // 2, ew // 2)]  # fmt: skip
    ref = convert.rgb_to_i420_reference(img)
    for got, want in zip(planes, ref, strict=True):
        assert got.shape == want.shape
        assert np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.parametrize("channels", [3, 4])
def test_opencv_chroma_is_within_one_level_for_every_colour_and_block_mean(channels: int) -> None:
    """OpenCV's chroma comes from the 2x2 mean rounded to uint8 and a fixed-point
    transform: both errors together must stay within one level of the reference. Every
    colour of a 5-level lattice (the extremes included), each as four 2x2 blocks whose
    pixels differ by one level, so that each channel's mean falls a quarter (rounded
    down) or half (rounded up) between levels, in the four ways that push Cb or Cr
    furthest up or down; alpha must not count. (Chroma from full-range YCrCb mapped to
    limited range by a table, one rounding more, is 2 levels off here.)"""
    import cv2

    levels = np.arange(0, 256, 5)  # 52 levels, 0 and 255 among them
    n = len(levels)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    base = np.stack([r, g, b], axis=-1).reshape(-1, 1, 1, 3)
    # Pixels of a block one level off, per channel: 2 of 4 (mean +.5, rounds up), 1 of 4
    # (+.25, rounds down); rows: Cb up, Cb down, Cr up, Cr down.
    off = np.array([[1, 1, 2], [2, 2, 1], [2, 1, 1], [1, 2, 2]])[None, :, None, :]
    sign = np.where(base == 255, -1, 1)
    blocks = base + sign * (off > np.arange(4)[None, None, :, None])  # (colour, way, px, 3)
    blocks = blocks.reshape(n * n, n * 4, 2, 2, 3).transpose(0, 2, 1, 3, 4)
    img = blocks.reshape(n * n * 2, n * 4 * 2, 3).astype(np.uint8)
    if channels == 4:
        alpha = np.random.default_rng(7).integers(0, 256, (*img.shape[:2], 1), np.uint8)
        img = np.concatenate([img, alpha], axis=2)
    packed = convert.opencv_i420(cv2, img)
    h, w = img.shape[:2]
    q = w * h // 4
    chroma = packed[h:].reshape(-1)
    ref = convert.rgb_to_i420_reference(img)
    got = [packed[:h], chroma[:q].reshape(h // 2, w // 2), chroma[q:].reshape(h // 2, w // 2)]
    for plane, want in zip(got, ref, strict=True):
        assert np.abs(plane.astype(int) - want).max() <= 1


def test_opencv_frames_converted_at_once_on_two_threads_keep_their_own_pixels() -> None:
    """Two encoder threads converting different frames (as two groups' pumps do), RGB
    and RGBA: each result is its own frame's, and an earlier result is never written
    over by a later conversion (a VideoFrame may still wrap it)."""
    import threading

    import cv2

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (96, 128, c), np.uint8) for c in (3, 4, 3, 4)]
    want = [convert.opencv_i420(cv2, f) for f in frames]
    kept = [w.copy() for w in want]
    bad: list[int] = []

    def convert_many(k: int) -> None:
        for i in range(200):
            j = (k + 2 * i) % 4
            if not np.array_equal(convert.opencv_i420(cv2, frames[j]), want[j]):
                bad.append(j)

    threads = [threading.Thread(target=convert_many, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
    assert all(np.array_equal(w, k) for w, k in zip(want, kept, strict=True))


def test_reference_conversion_round_trips() -> None:
    img = np.repeat(np.repeat(np.array(patterns.TEST_CARD_COLOURS, np.uint8)[None], 2, 0), 2, 1)
    img = img.reshape(2, 8, 3)[:, :8]
    back = convert.i420_to_rgb_reference(*convert.rgb_to_i420_reference(img))
    assert np.abs(back.astype(int) - img).max() <= 2


@pytest.mark.parametrize("shape", [(64, 96, 3), (61, 97, 4), (720, 1280, 3)])
def test_array_module_conversion_matches_the_reference(shape) -> None:
    rng = np.random.default_rng(sum(shape))
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    got = convert.rgb_to_i420(img, xp=np)
    want = convert.rgb_to_i420_reference(img)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == np.uint8
        assert np.abs(g.astype(int) - w).max() <= 1


def test_packed_layouts() -> None:
    y = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6)
    u = np.full((2, 3), 100, np.uint8)
    v = np.full((2, 3), 200, np.uint8)
    i420 = convert.i420_packed(y, u, v)
    assert i420.shape == (6, 6)
    assert np.array_equal(i420[:4], y) and (i420[4:].ravel()[:6] == 100).all()
    assert (i420[4:].ravel()[6:] == 200).all()
    nv12 = convert.nv12_packed(y, u, v)
    assert nv12.shape == (6, 6) and list(nv12[4, :4]) == [100, 200, 100, 200]


@needs_cuda
@pytest.mark.parametrize("shape", [(1080, 1920, 3), (2160, 3840, 4), (61, 97, 3)])
def test_gpu_conversion_matches_the_cpu_path(shape) -> None:
    import cupy as cp

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    got = [cp.asnumpy(p) for p in convert.rgb_to_i420(cp.asarray(img), xp=cp)]
    for g, w in zip(got, convert.rgb_to_i420_reference(img), strict=True):
        assert np.abs(g.astype(int) - w).max() <= 1
