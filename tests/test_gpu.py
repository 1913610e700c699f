"""GPU frames: what can be checked without a GPU runs everywhere; the rest needs CUDA.

GPU-only tests skip with the reason (no CuPy / no CUDA device / no NVENC engine), they
never fail for it. benchmarks/bench_gpu.py prints the figures on a GPU machine.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rfb import client, frames, patterns, protocol
from rfb.encoders import convert, gpu, nvenc

av = pytest.importorskip("av")


# -- selection and fallback -----------------------------------------------------------------


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


def test_nvenc_probe_says_why_not_here() -> None:
    reason = nvenc.nvenc_unavailable_reason()
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert reason is not None and "rfb[gpu]" in reason


def test_doctor_reports_every_encoder_and_the_path() -> None:
    out = subprocess.run([sys.executable, "-m", "rfb.doctor"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    for cap in ("webcodecs/h264-annexb", "image/jpeg", "image/png", "image/webp"):
        assert cap in out
    assert "NVENC" in out and "serve() would take" in out
    assert "NumPy frames" in out


# -- the conversion's arithmetic, on NumPy (the GPU runs the same code with CuPy) ----------


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


def test_i420_planes_encode_and_decode_to_the_published_colours() -> None:
    """The fallback's host half: planes in PyAV's yuv420p layout go through libx264."""
    from rfb.encoders.base import EncoderSettings
    from rfb.encoders.x264 import X264Encoder

    img = patterns.test_card(320, 240, 1)
    packed = convert.i420_packed(*convert.rgb_to_i420(img))
    frame = av.VideoFrame.from_ndarray(packed, format="yuv420p")
    enc = X264Encoder(320, 240, EncoderSettings())
    enc.to_yuv = lambda pixels: frame  # what the device path hands libx264
    pic = enc.encode(img, True, 0)
    enc.close()
    ctx = av.CodecContext.create("h264", "r")
    (out,) = ctx.decode(av.Packet(pic.data))
    rgb = out.reformat(format="rgb24", src_colorspace="ITU601", src_color_range="MPEG").to_ndarray()
    for x, y in ((80, 60), (240, 60), (80, 180), (240, 180)):
        assert np.abs(rgb[y, x].astype(int) - img[y, x]).max() <= 4


@pytest.mark.parametrize("name", ["bouncing_box", "test_card"])
def test_device_patterns_draw_what_the_host_patterns_draw(name: str) -> None:
    """--gpu's patterns, with NumPy standing in for CuPy: the same pictures."""
    device = patterns.make_device(name, 320, 240, xp=np)
    host = patterns.make(name, 320, 240)
    for i in (0, 7, 100):
        assert np.array_equal(device(i), host(i))


# -- the NVENC encoder against a stand-in PyNvVideoCodec (tests/fake_nvenc.py) ------------


def fake_nvenc(w: int, h: int, **fake_kw):  # type: ignore[no-untyped-def]
    from fake_nvenc import FakeNvc, HostPlane

    from rfb.encoders.base import EncoderSettings
    from rfb.encoders.nvenc import NvencEncoder

    nvc = FakeNvc(**fake_kw)
    return NvencEncoder(w, h, EncoderSettings(), nvc=nvc, xp=np, plane=HostPlane), nvc


async def test_nvenc_path_shows_a_single_published_frame(serving, monkeypatch) -> None:
    """A user who publishes once (or rarely) still sees that frame although the binding
    hands packets back three frames late: the group feeds it again until it is out."""
    from fake_nvenc import use_fake_nvenc

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


def test_nvenc_options_suit_low_latency() -> None:
    from rfb.encoders.base import EncoderSettings
    from rfb.encoders.nvenc import encoder_options

    opts = encoder_options(1920, 1080, EncoderSettings(bitrate=6_000_000, fps=60))
    assert all(isinstance(v, str) for v in opts.values())
    assert opts["tuning_info"] == "ultra_low_latency" and opts["rc"] == "cbr"
    assert opts["bitrate"] == "6000000" and opts["fps"] == "60"
    assert opts["repeatspspps"] == "1"  # SPS/PPS on every IDR: a late joiner can start
    assert "bf" not in opts  # the binding copies bf into frameIntervalP: 0 would be all-intra


def test_nvenc_stream_decodes_in_order_with_forced_idr_and_our_colour_tags() -> None:
    from rfb.encoders import h264

    enc, nvc = fake_nvenc(320, 240)
    pictures = []
    for i in range(12):
        pic = enc.encode(patterns.test_card(320, 240, i), i in (0, 7), i * 33333)
        pictures.append(pic)
    enc.close()
    assert pictures[:3] == [None] * 3  # the binding's output delay
    out = [p for p in pictures if p is not None]
    assert len(out) == 9  # then one access unit per frame, in order
    assert [i for i, p in enumerate(out) if p.keyframe] == [0, 7] and nvc.sessions[0].forced == [
        0,
        7,
    ]
    assert h264.nal_types(out[0].data)[:2] == [h264.NAL_SPS, h264.NAL_PPS]
    sps = h264.find_sps(out[0].data)
    assert h264.sps_vui_colour(sps) == {"full_range": 0, "primaries": convert.VUI_PRIMARIES,
                                        "transfer": convert.VUI_TRANSFER,
                                        "matrix": convert.VUI_MATRIX}  # fmt: skip
    assert h264.sps_max_num_reorder_frames(sps) == 0
    assert out[0].codec == h264.codec_string(sps) and out[0].codec.startswith("avc1.64")
    ctx = av.CodecContext.create("h264", "r")
    for i, pic in enumerate(out):
        (frame,) = ctx.decode(av.Packet(pic.data))
        assert frame.color_range == 1 and frame.colorspace == convert.VUI_MATRIX  # as tagged
        rgb = frame.reformat(format="rgb24", src_colorspace="ITU601",
                             src_color_range="MPEG").to_ndarray()  # fmt: skip
        want = patterns.test_card(320, 240, i)
        for x, y in ((80, 60), (240, 180)):
            assert np.abs(rgb[y, x].astype(int) - want[y, x]).max() <= 6


def test_nvenc_without_output_delay_gives_one_unit_per_frame() -> None:
    enc, _ = fake_nvenc(64, 48, delay=0)
    assert all(enc.encode(patterns.test_card(64, 48, i), i == 0, i) is not None for i in range(4))
    enc.close()


def test_nvenc_probe_names_what_is_missing() -> None:
    from fake_nvenc import FakeNvc

    assert nvenc.nvenc_session_problem(FakeNvc()) is None
    assert "no NVENC engine" in nvenc.nvenc_session_problem(FakeNvc(engines=0))

    v1 = type("PyNvVideoCodec", (), {"__version__": "1.0.2"})()  # no NV_ENC_PIC_FLAGS
    assert "1.0.2 cannot force IDRs; 2.0 or newer" in nvenc.nvenc_session_problem(v1)

    class Broken(FakeNvc):
        def GetEncoderCaps(self, codec="h264"):  # type: ignore[no-untyped-def]
            raise RuntimeError("caps query failed")

        def CreateEncoder(self, *a, **kw):  # type: ignore[no-untyped-def]
            raise RuntimeError("NV_ENC_ERR_UNSUPPORTED_DEVICE\nmore detail")

    assert nvenc.nvenc_session_problem(Broken()) == "no NVENC session: NV_ENC_ERR_UNSUPPORTED_DEVICE"


# What PyNvVideoCodec 2.2.4 raised on an NVIDIA H200 (no NVENC engine), 2026-12-04.
H200_CREATE_ENCODER_ERROR = (
    "PyNvEncoderCaps : \nError code : 2\nError Type : m_nvenc.nvEncOpenEncodeSessionEx("
    "&encodeSessionExParams, &hEncoder) returned error 2\nat "
    "/project/src/PyNvVideoCodec/src/PyNvEncoder.cpp:1103\n"
)


def test_nvenc_probe_explains_the_status_a_gpu_without_an_engine_returns() -> None:
    from fake_nvenc import FakeNvc

    class H200(FakeNvc):
        def GetEncoderCaps(self, codec="h264"):  # type: ignore[no-untyped-def]
            raise RuntimeError(H200_CREATE_ENCODER_ERROR)  # it opens a session too

        def CreateEncoder(self, *a, **kw):  # type: ignore[no-untyped-def]
            raise RuntimeError(H200_CREATE_ENCODER_ERROR)

    reason = nvenc.nvenc_session_problem(H200())
    assert reason is not None
    assert reason.startswith("no NVENC session: NV_ENC_ERR_UNSUPPORTED_DEVICE (2): ")
    assert "no usable NVENC engine" in reason and "\n" not in reason
    assert nvenc.describe_nvenc_error(RuntimeError("Error code : 15\n")).startswith(
        "NV_ENC_ERR_INVALID_VERSION (15): the NVIDIA driver is older"
    )
    assert nvenc.describe_nvenc_error(RuntimeError("prefix :\nreal cause\n")) == "real cause"


def test_nvenc_packets_of_each_binding_shape() -> None:
    from rfb.encoders.nvenc import packets_of

    assert packets_of([]) == [] and packets_of(None) == []
    assert packets_of([{"data": b"\x00\x00\x01\x65", "timestamp": 0, "picture_type": 0},
                       {"data": b"", "timestamp": 1, "picture_type": 0}]) == [b"\x00\x00\x01\x65"]  # fmt: skip
    assert packets_of(bytearray(b"\x00\x00\x01\x41")) == [b"\x00\x00\x01\x41"]


# -- publishing device frames: validation without CuPy -------------------------------------


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


def test_import_rfb_loads_no_heavy_optional_package() -> None:
    code = ("import sys, rfb; heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('av', 'aiortc', 'aioice', 'cupy', 'PyNvVideoCodec', 'playwright')]; print(heavy)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_gpu_without_cupy_names_the_extra() -> None:
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    r = subprocess.run([sys.executable, "-m", "rfb.server", "--gpu", "--port", "0"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "rfb[gpu]" in r.stderr


# -- on a GPU -----------------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(
    gpu.cupy_unavailable_reason() is not None,
    reason=f"needs CuPy and a CUDA device: {gpu.cupy_unavailable_reason()}",
)
needs_nvenc = pytest.mark.skipif(
    nvenc.nvenc_unavailable_reason() is not None,
    reason=f"needs an NVENC engine: {nvenc.nvenc_unavailable_reason()}",
)


@needs_cuda
@pytest.mark.parametrize("shape", [(1080, 1920, 3), (2160, 3840, 4), (61, 97, 3)])
def test_gpu_conversion_matches_the_cpu_path(shape) -> None:
    import cupy as cp

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    got = [cp.asnumpy(p) for p in convert.rgb_to_i420(cp.asarray(img), xp=cp)]
    for g, w in zip(got, convert.rgb_to_i420_reference(img), strict=True):
        assert np.abs(g.astype(int) - w).max() <= 1


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


@needs_nvenc
def test_nvenc_idr_first_forced_idr_and_decodes() -> None:
    import cupy as cp

    from rfb.encoders.base import EncoderSettings
    from rfb.encoders.h264 import NAL_IDR, NAL_PPS, NAL_SPS, find_sps, nal_types, sps_vui_colour
    from rfb.encoders.nvenc import NvencEncoder

    enc = NvencEncoder(320, 240, EncoderSettings())
    out = [enc.encode(cp.asarray(patterns.test_card(320, 240, i)), i in (0, 6), i * 33333)
           for i in range(12)]  # fmt: skip
    enc.close()
    delay = next(i for i, p in enumerate(out) if p is not None)  # the binding's output delay
    pictures = out[delay:]
    assert None not in pictures  # then one access unit per frame
    assert [i for i, p in enumerate(pictures) if p.keyframe] == [0, 6]
    first = pictures[0].data
    assert nal_types(first)[:2] == [NAL_SPS, NAL_PPS] and NAL_IDR in nal_types(first)
    assert sps_vui_colour(find_sps(first))["full_range"] == 0
    ctx = av.CodecContext.create("h264", "r")
    for i, pic in enumerate(pictures):
        (frame,) = ctx.decode(av.Packet(pic.data))
        rgb = frame.reformat(format="rgb24", src_colorspace="ITU601",
                             src_color_range="MPEG").to_ndarray()  # fmt: skip
        want = patterns.test_card(320, 240, i)
        assert np.abs(rgb[60, 80].astype(int) - want[60, 80]).max() <= 6


@needs_nvenc
def test_nvenc_path_makes_no_host_copy_of_rgb(monkeypatch) -> None:
    import cupy as cp

    from rfb.encoders.base import EncoderSettings
    from rfb.encoders.nvenc import NvencEncoder

    copies: list[int] = []
    real = cp.asnumpy
    monkeypatch.setattr(
        cp, "asnumpy", lambda a, *k, **kw: copies.append(a.nbytes) or real(a, *k, **kw)
    )
    monkeypatch.setattr(cp.ndarray, "get", lambda a, *k, **kw: copies.append(a.nbytes) or real(a))
    enc = NvencEncoder(640, 480, EncoderSettings())
    enc.encode(cp.asarray(patterns.test_card(640, 480, 0)), True, 0)
    enc.close()
    assert copies == []
