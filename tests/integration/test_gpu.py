"""GPU frames over a real WebSocket: the NVENC path (a stand-in PyNvVideoCodec) shows a
lone published frame, device arrays get clear errors, and (on a GPU) a CuPy frame reaches
a viewer. GPU-only tests skip with the reason (no CuPy / no CUDA device), they never fail
for it. benchmarks/bench_gpu.py prints the figures on a GPU machine. (Without sockets:
tests/unit/encoders/test_gpu.py, test_nvenc.py and test_convert.py.)"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rfb import client, frames, patterns, protocol

from support.gpu import needs_cuda

av = pytest.importorskip("av")


async def test_nvenc_path_shows_a_single_published_frame(serving, monkeypatch) -> None:
    """A user who publishes once (or rarely) still sees that frame although the binding
    hands packets back three frames late: the group feeds it again until it is out."""
    from support.fake_nvenc import use_fake_nvenc

    use_fake_nvenc(monkeypatch, delay=3)
    display, _ = await serving(320, 240, pattern=None)

    def shows(pixels: np.ndarray, card: np.ndarray) -> bool:
        return all(np.abs(pixels[y, x].astype(int) - card[y, x]).max() <= 6
                   for x, y in ((80, 60), (240, 180)))  # fmt: skip

    async with client.connect(display.ws_url, [protocol.CAP_H264]) as v:
        for i in (1, 2):
            card = patterns.test_card(320, 240, i)
            display.publish(card)
            seen = 0
            while not shows((await v.next_frame(decode=True, timeout=10)).pixels, card):
                seen += 1  # repeats of the previous frame come out first
                assert seen < 8
        (group,) = display.metrics()["groups"]
        assert group["encoder"] == "nvenc" and group["keyframes"] == 1


class FakeCudaArray:
    """Just __cuda_array_interface__: what Numba, PyTorch and others hand over."""

    def __init__(self, shape, typestr="|u1", strides=None) -> None:
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (0, False),
                                         "strides": strides, "version": 3}  # fmt: skip


class FakeDlpack:
    def __dlpack_device__(self):  # type: ignore[no-untyped-def]
        return (2, 0)  # kDLCUDA

    def __dlpack__(self, stream=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("not a real tensor")


async def test_device_frames_get_clear_errors(serving) -> None:
    display, _ = await serving(64, 48, pattern=None)
    with pytest.raises(TypeError, match="uint8"):
        display.publish(FakeCudaArray((48, 64, 3), "<f4"))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        display.publish(FakeCudaArray((48, 64)))
    with pytest.raises(ValueError, match="C-contiguous"):
        display.publish(FakeCudaArray((48, 64, 3), strides=(64 * 3 * 2, 3, 1)))
    assert frames.is_device_array(FakeDlpack())
    assert not frames.is_device_array(np.zeros((2, 2, 3), np.uint8))
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"rfb\[gpu\]"):
            display.publish(FakeCudaArray((48, 64, 3)))
        with pytest.raises(ImportError, match=r"rfb\[gpu\]"):
            display.publish(FakeDlpack())
    display.publish(patterns.test_card(64, 48, 0))  # the display still works


async def test_cupy_without_a_cuda_device_gets_a_clear_error(serving, monkeypatch) -> None:
    import types

    def no_device() -> int:
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", fake)
    display, _ = await serving(64, 48, pattern=None)
    with pytest.raises(frames.CudaUnavailable, match="GPU frames need a CUDA device"):
        display.publish(FakeCudaArray((48, 64, 3)))
    display.publish(patterns.test_card(64, 48, 0))  # the display still works


@needs_cuda
async def test_device_frame_reaches_a_viewer(serving) -> None:
    import cupy as cp

    display, _ = await serving(320, 240, pattern=None)
    display.publish(cp.asarray(patterns.test_card(320, 240, 2)))
    for caps in ([protocol.CAP_H264], [protocol.CAP_JPEG]):
        async with client.connect(display.ws_url, caps) as v:
            f = await v.next_frame(decode=True)
        img = patterns.test_card(320, 240, 2)
        for x, y in ((80, 60), (240, 180)):
            assert np.abs(f.pixels[y, x].astype(int) - img[y, x]).max() <= 6
