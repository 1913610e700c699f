"""H.264 4:4:4 (EncoderSettings.chroma == "444"): High 4:4:4 Predictive through libx264,
its conversions (swscale, OpenCV, the array-module code) against the reference, the
quality it buys on the plot-like dashboard, odd sizes, a scaled rung, the still, and the
backend choice (never NVENC)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rfb import encoders, patterns
from rfb.bench import psnr
from rfb.encoders import convert, gpu, h264
from rfb.encoders.base import CHROMA_420, CHROMA_444, CHROMAS, EncoderSettings

from support.gpu import needs_cuda
from support.pixels import yuv_planes

av = pytest.importorskip("av", reason="H.264 tests need PyAV: pip install 'rfb[h264]'")


def test_chroma_is_a_setting_and_part_of_the_group_key() -> None:
    assert CHROMAS == (CHROMA_420, CHROMA_444) == ("420", "444")
    assert EncoderSettings().chroma == CHROMA_420
    a, b = EncoderSettings(), EncoderSettings(chroma=CHROMA_444)
    assert a != b and len({a, b}) == 2


def test_x264_refuses_an_unknown_chroma() -> None:
    from rfb.encoders.x264 import X264Encoder

    with pytest.raises(ValueError, match="chroma"):
        X264Encoder(64, 48, EncoderSettings(chroma="422"))


def _rgb(frame: object) -> np.ndarray:
    """A decoded frame back to RGB with the BT.601 limited-range inverse."""
    return convert.yuv_to_rgb_reference(*yuv_planes(frame))


def _encode(w: int, h: int, frames: list[np.ndarray], **kw: object) -> tuple[list, list]:
    enc = encoders.create("webcodecs/h264-annexb", w, h, EncoderSettings(**kw))  # type: ignore[arg-type]
    dec = av.CodecContext.create("h264", "r")
    pics, decoded = [], []
    for i, f in enumerate(frames):
        pic = enc.encode(f, i == 0, i * 33_333)
        assert pic is not None
        pics.append(pic)
        (out,) = dec.decode(av.Packet(pic.data))
        decoded.append(out)
    enc.close()
    return pics, decoded


def test_444_beats_420_on_the_dashboard_at_the_same_bitrate() -> None:
    """1 px coloured lines and small text: full-resolution chroma is worth 2 dB and more
    (measured 30.4 vs 33.1 dB over these 10 frames; 4:2:0's chroma alone caps it at
    31.9 dB), at the automatic bitrate of both."""
    w, h = 1280, 720
    render = patterns.make("dashboard", w, h)
    frames = [render(i) for i in range(10)]
    scores = {}
    for chroma in CHROMAS:
        pics, decoded = _encode(w, h, frames, bitrate=0, chroma=chroma)
        sps = h264.find_sps(pics[0].data)
        assert sps is not None and pics[0].keyframe
        assert h264.sps_vui_colour(sps) == {
            "full_range": 0,
            "primaries": convert.VUI_PRIMARIES,
            "transfer": convert.VUI_TRANSFER,
            "matrix": convert.VUI_MATRIX,
        }
        want = "avc1.F4" if chroma == CHROMA_444 else "avc1.42"
        assert all(p.codec.startswith(want) for p in pics), pics[0].codec
        assert sps[1] == (244 if chroma == CHROMA_444 else 66)  # profile_idc
        assert decoded[0].format.name == ("yuv444p" if chroma == CHROMA_444 else "yuv420p")
        scores[chroma] = float(
            np.mean([psnr(_rgb(d), f) for d, f in zip(decoded, frames, strict=True)])
        )
    assert scores[CHROMA_444] >= scores[CHROMA_420] + 2.0, scores


def test_444_odd_size_is_padded_to_even_and_keeps_1px_colour() -> None:
    w, h = 161, 121
    img = np.full((h, w, 3), 255, np.uint8)
    img[:, 40] = (220, 0, 0)  # 1 px red and blue lines: 4:2:0 would average them away
    img[:, 81] = (0, 0, 220)
    img[-1] = (40, 200, 40)
    pics, decoded = _encode(w, h, [img], chroma=CHROMA_444, bitrate=2_000_000)
    assert (pics[0].width, pics[0].height) == (162, 122)
    out = _rgb(decoded[0])
    assert out.shape == (122, 162, 3)
    for x, colour in ((40, (220, 0, 0)), (81, (0, 0, 220))):
        assert np.abs(out[60, x].astype(int) - colour).max() <= 12, out[60, x]
    assert np.abs(out[-1, -1].astype(int) - (40, 200, 40)).max() <= 6


def test_444_scaled_rung_scales_and_converts_in_swscale() -> None:
    from rfb.encoders.x264 import X264Encoder

    img = patterns.test_card(640, 360, 1)
    enc = X264Encoder(640, 360, EncoderSettings(chroma=CHROMA_444, scale=0.5))
    yuv = enc.to_yuv(img)
    assert (yuv.format.name, yuv.width, yuv.height) == ("yuv444p", 320, 180)
    small = convert.resize_area(img, 320, 180)
    for got, want in zip(yuv_planes(yuv), convert.rgb_to_yuv444(small), strict=True):
        assert np.abs(got.astype(int) - want).mean() < 1.0  # swscale's AREA vs the box
    pic = enc.encode(img, True, 0)
    enc.close()
    assert pic is not None and (pic.width, pic.height) == (320, 180)
    assert pic.codec.startswith("avc1.F4")
    (out,) = av.CodecContext.create("h264", "r").decode(av.Packet(pic.data))
    rgb = _rgb(out)
    for x, y in ((80, 45), (240, 45), (80, 135), (240, 135)):
        assert np.abs(rgb[y, x].astype(int) - small[y, x]).max() <= 4


def test_444_still_is_a_high_quality_idr() -> None:
    w, h = 640, 360
    img = patterns.make("dashboard", w, h)(0)
    pics, decoded = _encode(w, h, [img], chroma=CHROMA_444, still=True, bitrate=0)
    assert pics[0].keyframe and h264.is_idr(pics[0].data)
    assert pics[0].codec.startswith("avc1.F4")
    assert psnr(_rgb(decoded[0]), img) > 40


def test_444_encoder_takes_opencv_for_its_own_size() -> None:
    from rfb.encoders.x264 import X264Encoder

    cv2 = convert.load_cv2()
    assert cv2 is not None  # in the dev extra
    img = patterns.make("dashboard", 320, 180)(0)
    enc = X264Encoder(320, 180, EncoderSettings(chroma=CHROMA_444))
    got = yuv_planes(enc.to_yuv(img))
    enc.close()
    for g, want in zip(got, convert.opencv_yuv444(cv2, img), strict=True):
        assert np.array_equal(g, want)


@pytest.mark.parametrize("path", ["swscale", "opencv"])
@pytest.mark.parametrize(
    ("width", "height", "channels"),
    [(1280, 720, 3), (1280, 720, 4), (641, 481, 3), (641, 481, 4), (34, 18, 3)],
)
def test_444_conversion_paths_match_the_reference(
    path: str, width: int, height: int, channels: int
) -> None:
    """swscale's and OpenCV's RGB -> yuv444p against rgb_to_yuv444 on every colour:
    within one level in every plane, odd sizes padded as the reference pads them."""
    rng = np.random.default_rng(width + channels)
    img = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    ew, eh = convert.even_size(width, height)
    if path == "swscale":
        planes = yuv_planes(convert.swscale_yuv444(av, img, ew, eh))
    else:
        import cv2

        planes = list(convert.opencv_yuv444(cv2, img))
    for got, want in zip(planes, convert.rgb_to_yuv444(img), strict=True):
        assert got.shape == want.shape == (eh, ew)
        assert np.abs(got.astype(int) - want).max() <= 1


def test_444_array_module_code_is_within_a_level_of_float64() -> None:
    img = np.random.default_rng(9).integers(0, 256, (61, 97, 4), dtype=np.uint8)
    f = convert.pad_to_even(img[..., :3]).astype(np.float64)
    want = np.clip(np.rint(f @ convert.RGB_TO_YUV.T + convert.YUV_OFFSETS), 0, 255)
    got = np.stack(convert.rgb_to_yuv444(img), axis=-1)
    assert got.shape == (62, 98, 3)
    assert np.abs(got.astype(int) - want).max() <= 1
    back = convert.yuv_to_rgb_reference(*convert.rgb_to_yuv444(img))
    assert np.abs(back[:61, :97].astype(int) - img[..., :3]).max() <= 2


def test_yuv444p_frame_holds_the_planes_exactly() -> None:
    for w, h in ((2, 2), (34, 18), (162, 122)):
        planes = np.random.default_rng(w).integers(0, 256, (3, h, w), np.uint8)
        frame = convert.yuv444p_frame(av, convert.yuv444_packed(*planes))
        assert (frame.format.name, frame.width, frame.height) == ("yuv444p", w, h)
        for got, want in zip(yuv_planes(frame), planes, strict=True):
            assert np.array_equal(got, want)


@pytest.mark.parametrize(
    ("device", "nvenc", "cupy", "backend"),
    [
        (True, None, None, gpu.X264_GPU_CONVERT),  # NVENC would open: still not for 4:4:4
        (False, None, None, gpu.X264),
        (True, "no NVENC session", None, gpu.X264_GPU_CONVERT),
        (True, "no NVENC session", "CuPy is not installed", gpu.X264),
    ],
)
def test_444_never_takes_nvenc(device, nvenc, cupy, backend) -> None:
    got, why = gpu.choose_h264_backend(device, nvenc, cupy, CHROMA_444)
    assert got == backend
    assert "4:4:4" in why
    if cupy:
        assert cupy in why


def test_444_h264_factory_skips_the_nvenc_probe_and_logs_why(monkeypatch, caplog) -> None:
    from rfb.encoders import nvenc

    def probe() -> str | None:
        raise AssertionError("4:4:4 need not probe NVENC")

    monkeypatch.setattr(nvenc, "nvenc_unavailable_reason", probe)
    monkeypatch.setattr(gpu, "_logged", set())
    with caplog.at_level(logging.INFO, logger="rfb"):
        enc = encoders.create("webcodecs/h264-annexb", 64, 48, EncoderSettings(chroma="444"))
    assert enc.name == "x264"  # type: ignore[attr-defined]
    enc.close()
    (rec,) = [r for r in caplog.records if "H.264 via" in r.getMessage()]
    assert rec.levelno == logging.INFO and "4:4:4" in rec.getMessage()


def test_nvenc_refuses_444() -> None:
    from rfb.encoders.nvenc import NvencEncoder

    with pytest.raises(ValueError, match="4:2:0"):
        NvencEncoder(64, 48, EncoderSettings(chroma=CHROMA_444), nvc=object(), xp=np)


@needs_cuda
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_444_device_frames_convert_on_the_gpu(scale: float) -> None:
    import cupy as cp

    from rfb.encoders.x264 import X264Encoder

    img = patterns.make("dashboard", 1280, 720)(0)
    enc = X264Encoder(1280, 720, EncoderSettings(chroma=CHROMA_444, scale=scale))
    yuv = enc.to_yuv(cp.asarray(img))
    pic = enc.encode(cp.asarray(img), True, 0)
    enc.close()
    small = convert.resize_area(img, enc.coded_width, enc.coded_height)
    assert (yuv.format.name, yuv.width, yuv.height) == ("yuv444p", *small.shape[1::-1])
    for got, want in zip(yuv_planes(yuv), convert.rgb_to_yuv444(small), strict=True):
        assert np.abs(got.astype(int) - want).max() <= 1
    assert pic is not None and pic.codec.startswith("avc1.F4")
