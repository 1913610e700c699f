"""Turn what a user publishes into one immutable Frame."""

from __future__ import annotations

import ctypes.util
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One published picture. ``pixels`` is (H, W, 3|4) uint8 and never mutated."""

    pixels: Any
    frame_id: int
    timestamp_us: int  # capture time, relative to the display's start
    published_at: float  # the display's clock (seconds) at publish, for latency figures
    # Click-to-photon (session/photon.py): per viewer, the newest input number the program
    # had taken at publish; cumulative, so a frame that is never encoded loses nothing.
    inputs: Mapping[str, int] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def on_device(self) -> bool:
        """True when the pixels are a CuPy array on the GPU."""
        return not isinstance(self.pixels, np.ndarray)


def _describe(arr: Any) -> str:
    shape = getattr(arr, "shape", None)
    dtype = getattr(arr, "dtype", None)
    return f"{type(arr).__name__} with shape {shape} and dtype {dtype}"


_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged


def is_device_array(obj: Any) -> bool:
    """CuPy arrays, anything with __cuda_array_interface__, or CUDA DLPack tensors."""
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    dev = getattr(obj, "__dlpack_device__", None)
    if dev is None or isinstance(obj, np.ndarray):
        return False
    try:
        return int(dev()[0]) in _DLPACK_CUDA
    except Exception:
        return False


def _check_layout(shape: tuple[int, ...], dtype: str, contiguous: bool, what: str) -> None:
    if dtype != "uint8":
        raise TypeError(f"publish() expects dtype uint8 (H, W, 3|4), got {what} of dtype {dtype}")
    if len(shape) != 3 or shape[2] not in (3, 4):
        raise ValueError(
            f"publish() expects shape (H, W, 3) RGB or (H, W, 4) RGBA, got {what} of shape {shape}"
        )
    h, w = shape[:2]
    if not (1 <= h <= 16384 and 1 <= w <= 16384):
        raise ValueError(f"frame size {w}x{h} is outside 1..16384 in each dimension")
    if not contiguous:
        raise ValueError(
            f"publish() expects a C-contiguous array (H, W, {shape[2]}); "
            "pass cupy.ascontiguousarray(frame) / np.ascontiguousarray(frame)"
        )


def _cai_layout(obj: Any) -> tuple[tuple[int, ...], str, bool]:
    """Shape, dtype name and C-contiguity from __cuda_array_interface__, without CuPy."""
    cai = obj.__cuda_array_interface__
    shape = tuple(int(n) for n in cai["shape"])
    dtype = {"|u1": "uint8"}.get(cai.get("typestr", ""), cai.get("typestr", "?"))
    strides = cai.get("strides")
    itemsize = 1 if dtype == "uint8" else 0
    contiguous = strides is None
    if strides is not None and itemsize:
        expect, acc = [], itemsize
        for n in reversed(shape):
            expect.append(acc)
            acc *= n
        contiguous = tuple(strides) == tuple(reversed(expect))
    return shape, dtype, contiguous


class CudaUnavailable(RuntimeError):
    """CuPy is installed but this machine has no usable CUDA device."""


def load_cupy() -> Any:
    """CuPy, once it is known to work here; otherwise an error that says what is missing."""
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(
            "GPU frames need CuPy: pip install 'rfb[gpu]' (CUDA 12: cupy-cuda12x, "
            "CUDA 13: cupy-cuda13x)"
        ) from exc
    if (problem := _cuda_problem(cupy)) is not None:
        raise CudaUnavailable(f"GPU frames need a CUDA device: {problem}")
    return cupy


@functools.cache
def _cuda_problem(cupy: Any) -> str | None:
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as exc:
        if ctypes.util.find_library("cuda") is None:
            return "no NVIDIA driver on this machine (libcuda not found)"
        return f"CUDA is not usable: {exc}"
    return None


def as_device_pixels(frame: Any, *, copy: bool) -> Any:
    """Validate a GPU frame and return it as a private CuPy array on the device."""
    if hasattr(frame, "__cuda_array_interface__"):
        _check_layout(*_cai_layout(frame), what=type(frame).__name__)
    cupy = load_cupy()
    arr = (
        cupy.asarray(frame)
        if hasattr(frame, "__cuda_array_interface__")
        else (cupy.from_dlpack(frame))
    )
    _check_layout(tuple(arr.shape), str(arr.dtype), bool(arr.flags.c_contiguous),
                  type(frame).__name__)  # fmt: skip
    return arr.copy() if copy else arr


def as_pixels(frame: Any, *, copy: bool) -> Any:
    """A published frame as private pixels: NumPy on the host or CuPy on the device."""
    if is_device_array(frame):
        return as_device_pixels(frame, copy=copy)
    return as_host_pixels(frame, copy=copy)


def to_host(pixels: Any) -> np.ndarray:
    """One device-to-host copy when the pixels live on the GPU."""
    if isinstance(pixels, np.ndarray):
        return pixels
    return load_cupy().asnumpy(pixels)


def as_host_pixels(frame: Any, *, copy: bool) -> np.ndarray:
    """Validate a published frame and return it as a private NumPy array.

    Accepts C-contiguous uint8 arrays shaped (H, W, 3) RGB or (H, W, 4) RGBA.
    """
    if not isinstance(frame, np.ndarray):
        raise TypeError(
            f"publish() expects a numpy.ndarray, a CuPy array or a CUDA array (DLPack, "
            f"__cuda_array_interface__) of shape (H, W, 3) or (H, W, 4) and dtype uint8, "
            f"got {type(frame).__name__}"
        )
    if frame.dtype != np.uint8:
        raise TypeError(
            f"publish() expects dtype uint8 (H, W, 3|4), got {_describe(frame)}; "
            "convert with (arr * 255).clip(0, 255).astype(np.uint8) for float images"
        )
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(
            f"publish() expects shape (H, W, 3) RGB or (H, W, 4) RGBA, got {_describe(frame)}"
        )
    h, w = frame.shape[:2]
    if not (1 <= h <= 16384 and 1 <= w <= 16384):
        raise ValueError(f"frame size {w}x{h} is outside 1..16384 in each dimension")
    if not frame.flags.c_contiguous:
        raise ValueError(
            f"publish() expects a C-contiguous array (H, W, {frame.shape[2]}); "
            "pass np.ascontiguousarray(frame)"
        )
    if copy:
        return frame.copy()
    return frame


@functools.cache
def _memcmp() -> Any:
    """libc's memcmp through ctypes (which lets go of the GIL while it runs), or None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).memcmp
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    return fn


def same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape and bytes: one memcmp of two C-contiguous host arrays, without holding
    the GIL (0.07 ms at 720p, 1.3 ms at 4K; see docs/internals/encoders.md)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    memcmp = _memcmp()
    if memcmp is None or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return bool(np.array_equal(a, b))
    return bool(memcmp(a.ctypes.data, b.ctypes.data, a.nbytes) == 0)
