"""Marks for the tests that need a GPU: they skip elsewhere, with the reason."""

from __future__ import annotations

import pytest

from rfb.encoders import gpu, nvenc

needs_cuda = pytest.mark.skipif(
    gpu.cupy_unavailable_reason() is not None,
    reason=f"needs CuPy and a CUDA device: {gpu.cupy_unavailable_reason()}",
)
needs_nvenc = pytest.mark.skipif(
    nvenc.nvenc_unavailable_reason() is not None,
    reason=f"needs an NVENC engine: {nvenc.nvenc_unavailable_reason()}",
)
