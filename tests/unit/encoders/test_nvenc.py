"""The NVENC encoder (rfb/encoders/nvenc.py): its probe, its options and its stream,
against a stand-in PyNvVideoCodec (tests/support/fake_nvenc.py) everywhere, and against the
real one where there is an NVENC engine (those skip elsewhere, with the reason)."""

from __future__ import annotations

import numpy as np
import pytest

from rfb import patterns
from rfb.encoders import convert, nvenc

from support.gpu import needs_nvenc

av = pytest.importorskip("av")


def test_nvenc_probe_says_why_not_here() -> None:
    reason = nvenc.nvenc_unavailable_reason()
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert reason is not None and "rfb[gpu]" in reason


def fake_nvenc(w: int, h: int, **fake_kw):  # type: ignore[no-untyped-def]
    from rfb.encoders.base import EncoderSettings
    from rfb.encoders.nvenc import NvencEncoder

    from support.fake_nvenc import FakeNvc, HostPlane

    nvc = FakeNvc(**fake_kw)
    return NvencEncoder(w, h, EncoderSettings(), nvc=nvc, xp=np, plane=HostPlane), nvc


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
    from support.fake_nvenc import FakeNvc

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
    from support.fake_nvenc import FakeNvc

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
