"""``python -m rfb.doctor``: what can run here, and which path serve() would take."""

from __future__ import annotations

import platform
import sys

from . import encoders, protocol
from .encoders import gpu, nvenc


def state(reason: str | None) -> str:
    return "available" if reason is None else f"unavailable: {reason}"


def report() -> list[str]:
    lines = [f"rfb doctor — Python {platform.python_version()} on {platform.machine()}"]
    lines.append("encoders:")
    for cap, spec in encoders.REGISTRY.items():
        lines.append(f"  {cap:24s} {spec.name:6s} {state(encoders.unavailable_reason(cap))}")
    cupy_reason = gpu.cupy_unavailable_reason()
    nvenc_reason = nvenc.nvenc_unavailable_reason()
    lines.append("GPU:")
    lines.append(f"  CuPy / CUDA              {state(cupy_reason)}")
    if cupy_reason is None:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        lines.append(f"  device 0                 {name}")
    lines.append(f"  NVENC (PyNvVideoCodec)   {state(nvenc_reason)}")
    try:
        import aiortc  # noqa: F401

        webrtc = "available"
    except ImportError:
        webrtc = "unavailable: pip install 'rfb[webrtc]'"
    lines.append(f"WebRTC (aiortc)            {webrtc}")
    lines.append("serve() would take, for an H.264 viewer:")
    if encoders.unavailable_reason(protocol.CAP_H264) is not None:
        lines.append("  no H.264 here: viewers get JPEG")
    else:
        for device, label in ((False, "NumPy frames"), (True, "CuPy / CUDA frames")):
            if device and cupy_reason is not None:
                lines.append(f"  {label:20s} cannot be published here ({cupy_reason})")
                continue
            backend, why = gpu.choose_h264_backend(device, nvenc_reason, cupy_reason)
            lines.append(f"  {label:20s} {backend}: {why}")
    lines.append("  image viewers (JPEG/PNG/WebP) take device frames after one download per codec")
    return lines


def main() -> None:
    print("\n".join(report()))
    sys.exit(0)


if __name__ == "__main__":
    main()
