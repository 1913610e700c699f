"""Choosing the H.264 path for GPU frames (rfb/encoders/gpu.py): NVENC, GPU conversion
for x264, or x264 alone, and why, without a GPU."""

from __future__ import annotations

import pytest

from rfb.encoders import gpu


@pytest.mark.parametrize(
    ("device", "nvenc", "cupy", "backend", "words"),
    [
        (True, None, None, gpu.NVENC, "stay on the GPU"),
        (False, None, None, gpu.NVENC, "uploaded once"),
        (True, "no NVENC session: unsupported device", None, gpu.X264_GPU_CONVERT, "YUV planes"),
        (False, "no NVENC session: unsupported device", None, gpu.X264, "swscale"),
        (
            False,
            "CuPy is not installed",
            "CuPy is not installed",
            gpu.X264,
            "CuPy is not installed",
        ),
    ],
)
def test_h264_backend_choice(device, nvenc, cupy, backend, words) -> None:
    got, why = gpu.choose_h264_backend(device, nvenc, cupy)
    assert got == backend
    assert words in why
    if nvenc:
        assert nvenc in why  # the log line says why NVENC was not taken
