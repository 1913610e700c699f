"""RGB -> YUV 4:2:0 (and 4:4:4) colour conversion: one matrix and range for every encoder.

All H.264 paths convert with the BT.601 matrix into limited ("TV") range and say so in
the stream's VUI, so a browser decodes the colours the user published. BT.601 rather
than BT.709 because Chromium's software YUV->RGB path (libyuv) stores the blue
coefficient in a signed 8-bit fixed-point slot: BT.709's 2.112 is clamped to 2.0 and
saturated colours come out up to ~9 levels off in blue, while BT.601's 2.018 loses
less than one level (measured in headless Chromium: docs/internals/decisions.md, "Colour and
conversion").
The NumPy functions here are the reference the fast paths (swscale, CUDA) are tested
against.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

KR, KB = 0.299, 0.114  # BT.601
KG = 1.0 - KR - KB

# How the stream is tagged (ISO/IEC 23091-2 code points) and named for WebCodecs.
VUI_PRIMARIES = 1  # BT.709 (the sRGB primaries)
VUI_TRANSFER = 13  # IEC 61966-2-1 (sRGB): the published pixels are sRGB
VUI_MATRIX = 6  # SMPTE 170M, i.e. the BT.601 matrix
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


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: each output sample the mean of the input span it covers."""
    edges = np.arange(n_out + 1, dtype=np.float64) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
    return overlap / (n_in / n_out)


def resize_area(rgb: Any, width: int, height: int, xp: Any = np) -> Any:
    """Area-average (box) resampling of an (H, W, C) uint8 image, with any array module.

    Two small matrix products (rows, then columns), so on the GPU it is two cuBLAS calls;
    the CPU path scales in swscale instead (the same AREA filter).
    """
    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return rgb
    ry = xp.asarray(area_weights(h, height), dtype=xp.float32)
    rx = xp.asarray(area_weights(w, width), dtype=xp.float32)
    rows = xp.tensordot(ry, rgb.astype(xp.float32), axes=(1, 0))  # (height, w, C)
    out = xp.tensordot(rows, rx, axes=(1, 1))  # (height, C, width)
    out = xp.moveaxis(out, 2, 1)
    return xp.ascontiguousarray(xp.clip(xp.rint(out), 0, 255).astype(xp.uint8))


# RGB -> yuv420p on the CPU, measured on the 720p scene (python -m rfb.bench shows the
# same on any machine): swscale's rgb24 path 3.3 ms on one thread, 2.4-2.7 ms sliced over
# two; a copy to bgr24 (3.4 ms) to reach swscale's unscaled bgr24 path (1.7 ms) costs
# more than it saves; OpenCV (opencv_i420, when cv2 imports) 0.7 ms on one thread
# (benchmarks/bench_convert.py). Below SWSCALE_THREADS_MIN_PIXELS a second slice costs
# more than it gains.
SWSCALE_THREADS = 2
SWSCALE_THREADS_MIN_PIXELS = 640 * 480

_cv2: Any = None
_cv2_tried = False

# OpenCV's worker threads spin for a while after each parallel call, waiting for the next
# one: at 30 frames a second that spin is most of what they cost (720p conversion 1.7 ms of
# CPU a frame on two threads, 1.2 ms without the spin, the same wall time; python
# benchmarks/bench_convert.py --paced). Unless the program set them, or loaded OpenCV before
# rfb did, rfb has them wait on a condition instead.
_NO_ACTIVE_WAIT = (
    "OPENCV_THREAD_POOL_ACTIVE_WAIT_PAUSE_LIMIT",
    "OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER",
    "OPENCV_THREAD_POOL_ACTIVE_WAIT_MAIN",
)


def load_cv2() -> Any:
    """OpenCV if it imports (``pip install 'rfb[fast]'``, or any opencv-python), else None.

    ``RFB_NO_OPENCV=1`` leaves it out (to compare the paths)."""
    global _cv2, _cv2_tried
    if not _cv2_tried:
        _cv2_tried = True
        if not os.environ.get("RFB_NO_OPENCV"):
            for name in _NO_ACTIVE_WAIT:  # read once, when OpenCV loads
                os.environ.setdefault(name, "0")
            try:
                import cv2

                _cv2 = cv2
            except ImportError:
                _cv2 = None
    return _cv2


# Limited-range BT.601 chroma of an RGB pixel: [Cb, Cr, 0] rows for cv2.transform, offsets
# in the last column. Three output channels because that is the transform OpenCV
# vectorises for 8-bit (10-bit fixed-point coefficients); one or two outputs, or an RGBA
# input, fall back to its scalar loop, 5-15x slower.
_CHROMA_TRANSFORM = np.zeros((3, 4), np.float32)
_CHROMA_TRANSFORM[:2, :3] = RGB_TO_YUV[1:]
_CHROMA_TRANSFORM[:2, 3] = YUV_OFFSETS[1:]

_scratch = threading.local()


def _scratch_array(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 array of the calling thread's, reused from call to call (by shape).

    For temporaries that never leave the function: fresh ones of a megabyte or more were
    handed out by glibc as memory it had just given back, and page-faulted on every frame
    (1.6 ms instead of 0.6 at 720p in a process allocating nothing else). One per thread,
    so encoder threads converting at once never share one."""
    buf: np.ndarray | None = getattr(_scratch, name, None)
    if buf is None or buf.shape != shape:
        buf = np.empty(shape, np.uint8)
        setattr(_scratch, name, buf)
    return buf


def opencv_i420(cv2: Any, rgb: np.ndarray) -> np.ndarray:
    """RGB(A) -> I420 packed as PyAV's yuv420p (H*3/2, W), BT.601 limited, box chroma.

    OpenCV's RGB2YUV_I420 has the right matrix and range but point-samples chroma (the
    top-left pixel of each 2x2 block). So luma is its, and its chroma planes are
    overwritten with the chroma of the 2x2 box average (INTER_AREA at half size, which
    rounds each mean to uint8), converted at quarter size by one cv2.transform and split
    straight into the planes. Within one level of the reference, whatever the pixels:
    the rounded mean is off by <= 0.44 in chroma, the transform by <= 0.60 (checked on
    all 2^24 colours), so the sum stays under the 1.5 a rounded reference allows
    (tests/unit/encoders/test_convert.py). The returned array is new on every call (a
    VideoFrame may wrap it); only the quarter-size temporaries are reused.
    """
    rgb = pad_to_even(rgb)
    h, w, c = rgb.shape
    code = cv2.COLOR_RGB2YUV_I420 if c == 3 else cv2.COLOR_RGBA2YUV_I420
    out = cv2.cvtColor(rgb, code)
    half = (h // 2, w // 2)
    avg = cv2.resize(rgb, (w // 2, h // 2), dst=_scratch_array(f"avg{c}", (*half, c)),
                     interpolation=cv2.INTER_AREA)  # fmt: skip
    if c == 4:  # alpha out at quarter size: the 3-channel transform is the fast one
        avg = cv2.cvtColor(avg, cv2.COLOR_RGBA2RGB, dst=_scratch_array("avg3", (*half, 3)))
    cbcr = cv2.transform(avg, _CHROMA_TRANSFORM, dst=_scratch_array("cbcr", (*half, 3)))
    q = half[0] * half[1]
    planes = out[h:].reshape(-1)
    u = planes[:q].reshape(half)
    v = planes[q:].reshape(half)
    unused = avg.reshape(-1)[:q].reshape(half)  # avg is read; its memory is free
    got = cv2.split(cbcr, [u, v, unused])
    if got[0] is not u or got[1] is not v:  # a binding that did not write in place
        np.copyto(u, got[0])
        np.copyto(v, got[1])
    return out


def yuv420p_frame(av: Any, packed: np.ndarray) -> Any:
    """A yuv420p VideoFrame over packed I420 (H*3/2, W) planes, without copying them.

    PyAV's from_ndarray copies the planes (0.2 ms at 720p, ~2 ms at 4K); from_numpy_buffer
    wraps them, and the frame keeps the array alive. libx264 copies its input picture
    when it encodes, so the array is not read after encode() returns. PyAV 18 derives a
    wrong height from (H*3/2) rows unless H is a multiple of 4
    (tests/unit/encoders/test_convert.py checks every even size up to 300x80), so other
    heights, and PyAV builds without it, get the copy.
    """
    height = packed.shape[0] * 2 // 3
    if height % 4 == 0:
        try:
            frame = av.VideoFrame.from_numpy_buffer(packed, format="yuv420p")
        except (AttributeError, ValueError, TypeError, NotImplementedError):
            pass
        else:
            if (frame.width, frame.height) == (packed.shape[1], height):
                return frame
    return av.VideoFrame.from_ndarray(packed, format="yuv420p")


def cpu_i420(av: Any, rgb: np.ndarray, width: int, height: int) -> Any:
    """The fastest correct CPU conversion here: OpenCV where it imports and the size is
    the frame's own, else swscale (which also scales, for a lower rung)."""
    h, w = rgb.shape[:2]
    cv2 = load_cv2()
    if cv2 is not None and (width, height) == even_size(w, h):
        return yuv420p_frame(av, opencv_i420(cv2, rgb))
    return swscale_i420(av, rgb, width, height)


def swscale_i420(av: Any, rgb: np.ndarray, width: int, height: int) -> Any:
    """RGB(A) (H, W, 3|4) uint8 -> a yuv420p VideoFrame of ``width`` x ``height`` (even).

    BT.601 limited range, 2x2 box chroma (the AREA filter, as the reference); a size
    other than the frame's (a lower rung) is area-scaled in the same pass. Odd frames
    are padded by one edge row/column first, as the reference does.
    """
    return _swscale(av, rgb, width, height, "yuv420p")


def _swscale(av: Any, rgb: np.ndarray, width: int, height: int, pix_fmt: str) -> Any:
    """One swscale pass: pad odd frames, convert (BT.601 limited), area-scale."""
    fmt = "rgb24" if rgb.shape[2] == 3 else "rgba"
    h, w = rgb.shape[:2]
    if (width, height) == even_size(w, h):
        rgb = pad_to_even(rgb)
    frame = av.VideoFrame.from_ndarray(rgb, format=fmt)
    threads = SWSCALE_THREADS if width * height >= SWSCALE_THREADS_MIN_PIXELS else None
    return frame.reformat(
        width=width,
        height=height,
        format=pix_fmt,
        dst_colorspace=SWSCALE_COLORSPACE,
        dst_color_range=SWSCALE_RANGE,
        interpolation="AREA",
        threads=threads,
    )


def rgb_to_i420(rgb: Any, xp: Any = np) -> tuple[Any, Any, Any]:
    """RGB(A) -> I420 planes with any array module: NumPy here, CuPy on the GPU.

    The GPU path runs exactly this code with ``xp=cupy`` (CuPy turns each step into a
    kernel on the device), so the arithmetic checked on NumPy in the tests is the
    arithmetic the GPU does. float32 keeps it within one level of the float64 reference.
    """
    rgb = rgb[..., :3]
    h, w = rgb.shape[:2]
    if (h | w) & 1:
        rgb = xp.pad(rgb, ((0, h & 1), (0, w & 1), (0, 0)), mode="edge")
        h, w = rgb.shape[:2]
    m = xp.asarray(RGB_TO_YUV, dtype=xp.float32)
    f = rgb.astype(xp.float32)
    y = f @ m[0] + 16.0
    avg = f.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    u = avg @ m[1] + 128.0
    v = avg @ m[2] + 128.0

    def q(p: Any) -> Any:
        return xp.clip(xp.rint(p), 0, 255).astype(xp.uint8)

    return q(y), q(u), q(v)


def i420_packed(y: Any, u: Any, v: Any, xp: Any = np) -> Any:
    """The three planes as one (H*3/2, W) array: one copy to the host, PyAV's yuv420p layout."""
    h, w = y.shape
    return xp.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(h * 3 // 2, w)


def nv12_packed(y: Any, u: Any, v: Any, xp: Any = np) -> Any:
    """NV12 as one (H*3/2, W) array: Y, then interleaved U/V rows (NVENC's input)."""
    h, w = y.shape
    uv = xp.stack([u, v], axis=-1).reshape(h // 2, w)
    return xp.concatenate([y, uv], axis=0)


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


# 4:4:4 (EncoderSettings.chroma == "444"): the same matrix and range, chroma at full
# resolution. Measured at 720p (the dashboard, 2-core machine, 2026-12-07): swscale's
# rgb24 -> yuv444p 3.9 ms on one thread, 2.7 ms on two; OpenCV's cv2.transform with the
# reference matrix plus cv2.split 1.1 ms.


def rgb_to_yuv444(rgb: Any, xp: Any = np) -> tuple[Any, Any, Any]:
    """RGB(A) -> full-resolution Y, U, V planes with any array module (NumPy, CuPy).

    The 4:4:4 counterpart of rgb_to_i420, and the reference the fast paths (swscale,
    OpenCV) are tested against: no chroma averaging; the GPU runs this code with
    ``xp=cupy``. Odd sizes are padded by one
    edge row/column, as the 4:2:0 paths pad, so the planes have the encoder's coded size.
    """
    rgb = rgb[..., :3]
    h, w = rgb.shape[:2]
    if (h | w) & 1:
        rgb = xp.pad(rgb, ((0, h & 1), (0, w & 1), (0, 0)), mode="edge")
    m = xp.asarray(RGB_TO_YUV, dtype=xp.float32)  # float32: within a level of float64
    off = xp.asarray(YUV_OFFSETS, dtype=xp.float32)
    f = rgb.astype(xp.float32)

    def q(p: Any) -> Any:
        return xp.clip(xp.rint(p), 0, 255).astype(xp.uint8)

    return q(f @ m[0] + off[0]), q(f @ m[1] + off[1]), q(f @ m[2] + off[2])


def yuv444_packed(y: Any, u: Any, v: Any, xp: Any = np) -> Any:
    """The three planes as one (3, H, W) array: one copy to the host, PyAV's yuv444p layout."""
    return xp.stack([y, u, v])


def yuv444p_frame(av: Any, planes: np.ndarray) -> Any:
    """A yuv444p VideoFrame from (3, H, W) planes (copied: PyAV 18 cannot wrap yuv444p)."""
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format="yuv444p")


def opencv_yuv444(cv2: Any, rgb: np.ndarray) -> np.ndarray:
    """RGB(A) -> (3, H, W) yuv444p planes, BT.601 limited: one cv2.transform with the
    reference matrix (offsets in its last column; alpha weighted 0), then cv2.split.
    Within one level of the reference (tests/unit/encoders/test_chroma.py)."""
    rgb = pad_to_even(rgb)
    c = rgb.shape[2]
    m = np.zeros((3, c + 1), np.float32)
    m[:, :3] = RGB_TO_YUV
    m[:, c] = YUV_OFFSETS
    return np.stack(cv2.split(cv2.transform(rgb, m)))


def cpu_yuv444(av: Any, rgb: np.ndarray, width: int, height: int) -> Any:
    """cpu_i420 for 4:4:4: OpenCV where it imports and the size is the frame's own,
    else swscale (which also scales, for a lower rung)."""
    h, w = rgb.shape[:2]
    cv2 = load_cv2()
    if cv2 is not None and (width, height) == even_size(w, h):
        return yuv444p_frame(av, opencv_yuv444(cv2, rgb))
    return swscale_yuv444(av, rgb, width, height)


def swscale_yuv444(av: Any, rgb: np.ndarray, width: int, height: int) -> Any:
    """swscale_i420 for 4:4:4: RGB(A) -> a yuv444p VideoFrame of ``width`` x ``height``,
    BT.601 limited range; a smaller size (a lower rung) is area-scaled in the same pass."""
    return _swscale(av, rgb, width, height, "yuv444p")


def yuv_to_rgb_reference(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inverse of the reference conversion for 4:4:4 planes, or 4:2:0 ones (chroma
    repeated to full size): BT.601 limited range, for tests and benchmarks."""
    if u.shape != y.shape:
        return i420_to_rgb_reference(y, u, v)
    yuv = np.stack([y, u, v], axis=-1).astype(np.float64) - YUV_OFFSETS
    rgb = yuv @ np.linalg.inv(RGB_TO_YUV).T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
