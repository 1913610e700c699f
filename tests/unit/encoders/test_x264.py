"""x264 through PyAV (rfb/encoders/x264.py): IDRs with SPS/PPS, constrained baseline,
forced IDRs, colours, presets, slice threads, odd sizes, and the conversion it takes."""

from __future__ import annotations

import numpy as np
import pytest

from rfb import encoders, patterns
from rfb.encoders import convert, h264
from rfb.encoders.base import EncoderSettings

from support.pixels import quadrant_centres, yuv_planes

av = pytest.importorskip("av", reason="H.264 tests need PyAV: pip install 'rfb[h264]'")

W, H = 320, 240


class Decoder:
    def __init__(self) -> None:
        self.ctx = av.CodecContext.create("h264", "r")

    def __call__(self, data: bytes) -> np.ndarray:
        frames = self.ctx.decode(av.Packet(data))
        assert len(frames) == 1, "one access unit in, one picture out"
        return (
            frames[0]
            .reformat(format="rgb24", src_colorspace="ITU601", src_color_range="MPEG")
            .to_ndarray()
        )


def x264(w: int = W, h: int = H, **kw: object) -> encoders.Encoder:
    return encoders.create(
        "webcodecs/h264-annexb",
        w,
        h,
        EncoderSettings(**kw),  # type: ignore[arg-type]
    )


def test_h264_first_unit_is_an_idr_with_sps_pps_and_no_b_frames() -> None:
    enc = x264()
    decode = Decoder()
    pics = [enc.encode(patterns.test_card(W, H, i), i == 0, i * 33333) for i in range(10)]
    enc.close()
    assert all(p is not None for p in pics), "zero-latency: every frame yields its AU at once"
    first = h264.nal_types(pics[0].data)
    assert first[:2] == [h264.NAL_SPS, h264.NAL_PPS] and h264.NAL_IDR in first
    assert pics[0].keyframe and not any(p.keyframe for p in pics[1:])
    for i, p in enumerate(pics):
        decode(p.data)  # decodes in order, one picture per unit
        assert h264.NAL_IDR not in h264.nal_types(p.data) or i == 0


def test_h264_codec_string_matches_the_sps_and_is_constrained_baseline() -> None:
    enc = x264(1280, 720)
    pic = enc.encode(patterns.test_card(1280, 720, 0), True, 0)
    enc.close()
    sps = h264.find_sps(pic.data)
    assert pic.codec == h264.codec_string(sps)
    assert sps[1] == 66 and sps[2] & 0x40, (
        "profile_idc 66 with constraint_set1: constrained baseline"
    )
    assert pic.codec.startswith("avc1.42")


def test_h264_forced_idr_mid_stream() -> None:
    enc = x264(keyframe_interval_s=100)
    decode = Decoder()
    box = patterns.make("bouncing_box", W, H)
    keys = []
    for i in range(12):
        p = enc.encode(box(i), i in (0, 7), i * 33333)
        decode(p.data)
        keys.append(p.keyframe)
        if p.keyframe:
            assert h264.nal_types(p.data)[:2] == [h264.NAL_SPS, h264.NAL_PPS]
            assert h264.NAL_IDR in h264.nal_types(p.data)
    enc.close()
    assert [i for i, k in enumerate(keys) if k] == [0, 7]


def test_h264_same_timestamp_twice_is_accepted() -> None:
    enc = x264()
    img = patterns.test_card(W, H, 0)
    assert enc.encode(img, True, 1000) is not None
    assert enc.encode(img, True, 1000) is not None  # a forced IDR of an unchanged frame
    enc.close()


def test_h264_signals_the_matrix_it_converted_with() -> None:
    enc = x264()
    pic = enc.encode(patterns.test_card(W, H, 0), True, 0)
    enc.close()
    vui = h264.sps_vui_colour(h264.find_sps(pic.data))
    assert vui == {
        "full_range": 0,
        "primaries": convert.VUI_PRIMARIES,
        "transfer": convert.VUI_TRANSFER,
        "matrix": convert.VUI_MATRIX,
    }


@pytest.mark.parametrize(
    "colour", [*patterns.TEST_CARD_COLOURS, (200, 0, 0), (0, 0, 0), (255, 255, 255)]
)
def test_h264_flat_colours_decode_within_4(colour: tuple[int, int, int]) -> None:
    enc = x264(bitrate=2_000_000)
    decode = Decoder()
    out = None
    for i in range(3):
        out = decode(enc.encode(patterns.solid(W, H, i, colour), i == 0, i * 33333).data)
    enc.close()
    assert np.abs(out[H // 2, W // 2].astype(int) - colour).max() <= 4


def test_h264_test_card_quadrants() -> None:
    enc = x264()
    decode = Decoder()
    img = patterns.test_card(W, H, 2)
    out = decode(enc.encode(img, True, 0).data)
    enc.close()
    for x, y in quadrant_centres(W, H):
        assert np.abs(out[y, x].astype(int) - img[y, x]).max() <= 4


@pytest.mark.parametrize(("preset", "subme"), [("ultrafast", 0), ("superfast", 1), ("veryfast", 2)])
def test_h264_presets_encode_the_test_card(preset: str, subme: int) -> None:
    enc = x264(preset=preset)
    decode = Decoder()
    img = patterns.test_card(W, H, 2)
    data = enc.encode(img, True, 0).data
    enc.close()
    # x264 writes the options it ran with into the first IDR's SEI: the preset's own.
    assert f" subme={subme} ".encode() in data
    out = decode(data)
    for x, y in quadrant_centres(W, H):
        assert np.abs(out[y, x].astype(int) - img[y, x]).max() <= 4


@pytest.mark.parametrize("threads", [1, 4])
def test_h264_threads_setting_reaches_x264_as_slices(threads: int) -> None:
    w, h = 640, 480  # x264 caps slice threads on small frames (3 at 320x240)
    enc = x264(w, h, threads=threads)
    img = patterns.test_card(w, h, 2)
    data = enc.encode(img, True, 0).data
    enc.close()
    # zerolatency: one slice per thread in the same frame, so no frame of delay is added.
    assert f" threads={threads} ".encode() in data
    assert threads == 1 or b" sliced_threads=1 " in data
    assert h264.nal_types(data).count(h264.NAL_IDR) == threads
    out = Decoder()(data)
    for x, y in quadrant_centres(w, h):
        assert np.abs(out[y, x].astype(int) - img[y, x]).max() <= 4


def test_h264_odd_size_is_padded_to_even() -> None:
    enc = x264(161, 121)
    img = patterns.solid(161, 121, 0, (40, 200, 40))
    pic = enc.encode(img, True, 0)
    enc.close()
    assert (pic.width, pic.height) == (162, 122)
    out = Decoder()(pic.data)
    assert out.shape == (122, 162, 3)
    assert np.abs(out[-1, -1].astype(int) - (40, 200, 40)).max() <= 4


def test_swscale_conversion_matches_the_reference_matrix() -> None:
    from rfb.encoders.x264 import X264Encoder

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    enc = X264Encoder(80, 60, EncoderSettings())
    yuv = enc.to_yuv(img)
    enc.close()
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
              for p in yuv.planes]  # fmt: skip
    ref = convert.rgb_to_i420_reference(img)
    for got, want in zip(planes, ref, strict=True):
        assert np.abs(got.astype(int) - want).max() <= 1


def test_the_encoder_takes_opencv_for_its_own_size_and_swscale_to_scale() -> None:
    from rfb.encoders.x264 import X264Encoder

    assert convert.load_cv2() is not None
    img = patterns.make("scene", 640, 360)(0)
    full = X264Encoder(640, 360, EncoderSettings())
    half = X264Encoder(640, 360, EncoderSettings(scale=0.5))
    a, b = full.to_yuv(img), half.to_yuv(img)
    full.close()
    half.close()
    assert (a.width, a.height, b.width, b.height) == (640, 360, 320, 180)
    ref = convert.rgb_to_i420_reference(img)
    for got, want in zip(yuv_planes(a), ref, strict=True):
        assert np.abs(got.astype(int) - want).max() <= 1


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
