"""Which H.264 backend runs, and why: NVENC when it really opens a session, else libx264.
4:4:4 chroma is always libx264's (rfb's NVENC path codes NV12, i.e. 4:2:0).

Whether NVENC opens one is nvenc.py's probe (nvenc_unavailable_reason); CuPy's is here.

Decided once per encoder (per group and size) from what the frames are (host or device)
and what this machine can do; the reason goes to the log in one line.
"""

from __future__ import annotations

import functools
import logging

from .base import CHROMA_420, CHROMA_444

log = logging.getLogger("rfb")

NVENC = "nvenc"  # GPU colour conversion + NVENC, frames stay on the device
X264_GPU_CONVERT = "x264+gpu-convert"  # GPU conversion, one YUV copy to the host, libx264
X264 = "x264"  # swscale + libx264 on the CPU


def choose_h264_backend(
    device_frames: bool,
    nvenc_reason: str | None,
    cupy_reason: str | None,
    chroma: str = CHROMA_420,
) -> tuple[str, str]:
    """(backend, why). ``*_reason`` is None when that piece works here, else why not.

    ``chroma`` "444" (High 4:4:4) never takes NVENC, whatever ``nvenc_reason`` says:
    libx264, converting on the GPU for device frames."""
    if chroma == CHROMA_444:
        if not device_frames:
            return (
                X264,
                "4:4:4 chroma (High 4:4:4 is libx264's here): conversion + libx264 on the CPU",
            )
        if cupy_reason is not None:
            return X264, f"4:4:4 chroma (libx264 only); CuPy unavailable ({cupy_reason})"
        return X264_GPU_CONVERT, (
            "4:4:4 chroma (High 4:4:4 is libx264's here, not NVENC's): GPU colour "
            "conversion, one copy of the YUV planes to the host, libx264"
        )
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
    from ..frames import CudaUnavailable, load_cupy

    try:
        load_cupy()
    except (ImportError, CudaUnavailable) as exc:
        return str(exc)
    return None


_logged: set[tuple[str, bool, str]] = set()


def log_choice(backend: str, why: str, device_frames: bool, chroma: str = CHROMA_420) -> None:
    """One line per path: a warning when GPU frames miss NVENC (4:4:4 never asks for it),
    else for information."""
    if (backend, device_frames, chroma) not in _logged:
        _logged.add((backend, device_frames, chroma))
        missed = device_frames and backend != NVENC and chroma != CHROMA_444
        level = logging.WARNING if missed else logging.INFO
        log.log(level, "rfb: H.264 via %s: %s", backend, why)
