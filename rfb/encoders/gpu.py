"""Which H.264 backend runs, and why: NVENC when it really opens a session, else libx264.

Decided once per encoder (per group and size) from what the frames are (host or device)
and what this machine can do; the reason goes to the log in one line.
"""

from __future__ import annotations

import functools
import logging

log = logging.getLogger("rfb")

NVENC = "nvenc"  # GPU colour conversion + NVENC, frames stay on the device
X264_GPU_CONVERT = "x264+gpu-convert"  # GPU conversion, one YUV copy to the host, libx264
X264 = "x264"  # swscale + libx264 on the CPU


def choose_h264_backend(
    device_frames: bool, nvenc_reason: str | None, cupy_reason: str | None
) -> tuple[str, str]:
    """(backend, why). ``*_reason`` is None when that piece works here, else why not."""
    if nvenc_reason is None:
        where = "device frames stay on the GPU" if device_frames else "host frames uploaded once"
        return NVENC, f"NVENC opened a session; {where}"
    if device_frames:
        if cupy_reason is not None:  # cannot happen for frames CuPy accepted, but be clear
            return X264, f"NVENC unavailable ({nvenc_reason}); CuPy unavailable ({cupy_reason})"
        return X264_GPU_CONVERT, (
            f"NVENC unavailable ({nvenc_reason}): GPU colour conversion, one copy of the "
            "YUV planes to the host, libx264"
        )
    return X264, f"NVENC unavailable ({nvenc_reason}): swscale + libx264 on the CPU"


@functools.cache
def cupy_unavailable_reason() -> str | None:
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except ImportError:
        return "CuPy is not installed (pip install 'rfb[gpu]')"
    except Exception as exc:
        return f"CUDA is not usable: {exc}"
    return None


@functools.cache
def nvenc_unavailable_reason() -> str | None:
    """None if an NVENC H.264 session really opens on this machine, else why not."""
    if (reason := cupy_unavailable_reason()) is not None:
        return reason
    try:
        import PyNvVideoCodec as nvc
    except ImportError:
        return "PyNvVideoCodec is not installed (pip install 'rfb[gpu]')"
    try:
        enc = nvc.CreateEncoder(256, 256, "NV12", False, codec="h264")
        del enc
    except Exception as exc:  # data-centre GPUs (H100, H200) have no NVENC engine
        return f"no NVENC session: {str(exc).strip() or type(exc).__name__}"
    return None


_logged: set[tuple[str, bool]] = set()


def log_choice(backend: str, why: str, device_frames: bool) -> None:
    """One line per path: a warning when GPU frames miss NVENC, else for information."""
    if (backend, device_frames) not in _logged:
        _logged.add((backend, device_frames))
        level = logging.WARNING if device_frames and backend != NVENC else logging.INFO
        log.log(level, "rfb: H.264 via %s: %s", backend, why)
