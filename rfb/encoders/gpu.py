"""Which H.264 backend runs, and why: NVENC when it really opens a session, else libx264.

Decided once per encoder (per group and size) from what the frames are (host or device)
and what this machine can do; the reason goes to the log in one line.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from typing import Any

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
    from ..frames import CudaUnavailable, load_cupy

    try:
        load_cupy()
    except (ImportError, CudaUnavailable) as exc:
        return str(exc)
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
    except Exception as exc:  # it loads libnvidia-encode at import and raises if absent
        return f"PyNvVideoCodec cannot load: {_first_line(exc)}"
    return nvenc_session_problem(nvc)


def nvenc_session_problem(nvc: Any) -> str | None:
    """Open (and close) a session with rfb's own options; None if that works."""
    from .base import EncoderSettings
    from .nvenc import encoder_options

    if not hasattr(nvc, "NV_ENC_PIC_FLAGS"):
        version = getattr(nvc, "__version__", "?")
        return f"PyNvVideoCodec {version} cannot force IDRs; 2.0 or newer is needed"
    get_caps = getattr(nvc, "GetEncoderCaps", None)
    if get_caps is not None:
        with contextlib.suppress(Exception):  # opening a session below says why
            if get_caps(codec="h264").get("num_encoder_engines") == 0:
                return "this GPU has no NVENC engine (data-centre GPUs such as H100/H200)"
    try:
        enc = nvc.CreateEncoder(256, 256, "NV12", False,
                                **encoder_options(256, 256, EncoderSettings()))  # fmt: skip
        with contextlib.suppress(Exception):
            enc.EndEncode()
    except Exception as exc:  # no engine, or a driver without NVENC
        return f"no NVENC session: {describe_nvenc_error(exc)}"
    return None


# NVENCSTATUS values (nvEncodeAPI.h) a session's opening meets, with what they mean here.
NVENC_STATUS = {
    1: ("NV_ENC_ERR_NO_ENCODE_DEVICE", "no GPU here can encode"),
    2: (
        "NV_ENC_ERR_UNSUPPORTED_DEVICE",
        "this GPU has no usable NVENC engine (data-centre GPUs such as the H100 and H200 "
        "have none)",
    ),
    10: ("NV_ENC_ERR_OUT_OF_MEMORY", "out of memory, or the driver's session limit is reached"),
    15: ("NV_ENC_ERR_INVALID_VERSION", "the NVIDIA driver is older than PyNvVideoCodec needs"),
}


def describe_nvenc_error(exc: BaseException) -> str:
    """One line from a PyNvVideoCodec exception, naming the NVENC status where it has one.

    Its messages are several lines whose first is only a prefix (seen on an H200:
    ``PyNvEncoderCaps : \nError code : 2\n...returned error 2\nat ...cpp:1103``).
    """
    text = str(exc)
    found = re.search(r"returned error (\d+)", text) or re.search(r"Error code : (\d+)", text)
    if found is not None:
        code = int(found.group(1))
        name, meaning = NVENC_STATUS.get(code, (f"NVENC status {code}", "see nvEncodeAPI.h"))
        return f"{name} ({code}): {meaning}"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines()]
    useful = [ln for ln in lines if ln and not ln.endswith(":")]
    return useful[0] if useful else type(exc).__name__


_logged: set[tuple[str, bool]] = set()


def log_choice(backend: str, why: str, device_frames: bool) -> None:
    """One line per path: a warning when GPU frames miss NVENC, else for information."""
    if (backend, device_frames) not in _logged:
        _logged.add((backend, device_frames))
        level = logging.WARNING if device_frames and backend != NVENC else logging.INFO
        log.log(level, "rfb: H.264 via %s: %s", backend, why)
