"""Encoders decode back to what was published."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rfb import encoders, patterns
from rfb.encoders import convert, h264
from rfb.encoders.base import EncoderSettings

av = pytest.importorskip("av", reason="H.264 tests need PyAV: pip install 'rfb[h264]'")

W, H = 320, 240


def decode_image(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA" if im.mode == "RGBA" else "RGB"))


def quadrant_centres(w: int, h: int) -> list[tuple[int, int]]:
    return [(w // 4, h // 4), (3 * w // 4, h // 4), (w // 4, 3 * h // 4), (3 * w // 4, 3 * h // 4)]


@pytest.mark.parametrize(("cap", "tol"), [("image/jpeg", 6), ("image/png", 0), ("image/webp", 8)])
def test_images_decode_to_published_pixels(cap: str, tol: int) -> None:
    enc = encoders.create(cap, W, H, EncoderSettings(quality=90))
    img = patterns.test_card(W, H, 1)
    pic = enc.encode(img, False, 0)
    enc.close()
    assert pic.keyframe and pic.codec == cap and (pic.width, pic.height) == (W, H)
    out = decode_image(pic.data)
    assert out.shape == img.shape
    for x, y in quadrant_centres(W, H):
        assert np.abs(out[y, x].astype(int) - img[y, x]).max() <= tol, (cap, x, y)


def test_png_is_lossless_on_a_busy_image_and_keeps_alpha() -> None:
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    enc = encoders.create("image/png", W, H, EncoderSettings())
    out = decode_image(enc.encode(rgba, True, 0).data)
    enc.close()
    assert np.array_equal(out, rgba)


def test_jpeg_accepts_rgba() -> None:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    enc = encoders.create("image/jpeg", W, H, EncoderSettings())
    out = decode_image(enc.encode(rgba, True, 0).data)
    enc.close()
    assert np.abs(out[H // 2, W // 2].astype(int) - (200, 0, 0)).max() <= 4


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


def test_x264_slice_threads_follow_the_frame_size_and_the_cpus() -> None:
    from rfb.encoders.base import x264_threads

    assert x264_threads(1280, 720, 2) == 2  # this 2-core machine: measured best
    assert x264_threads(640, 480, 1) == 2
    assert x264_threads(1280, 720, 16) == 4  # on 16 cores (an H200 host): docs/encoders.md
    assert x264_threads(1920, 1080, 16) == 8
    assert x264_threads(3840, 2160, 16) == 8  # 16 threads measured slower than 8 at 4K
    assert x264_threads(3840, 2160, 64) == 16


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


def test_preset_is_a_stream_option_and_a_bad_one_is_named() -> None:
    import rfb
    from rfb.options import StreamOptions

    opts = StreamOptions(width=64, height=48, preset="superfast")
    assert opts.encoder_settings().preset == "superfast"
    assert StreamOptions(width=64, height=48).encoder_settings().preset == "ultrafast"
    with pytest.raises(ValueError, match=r"preset must be one of .*'ultrafast'.*got 'quick'"):
        rfb.serve(64, 48, preset="quick")


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


def test_yuv420p_frame_wraps_the_planes_it_can_and_copies_the_rest_exactly() -> None:
    av = pytest.importorskip("av")
    for w in range(2, 130, 2):
        for h in range(2, 42, 2):
            packed = np.random.default_rng(w * h).integers(0, 256, (h * 3 // 2, w), np.uint8)
            frame = convert.yuv420p_frame(av, packed)
            assert (frame.width, frame.height) == (w, h)
            want = [packed[:h], packed.reshape(-1)[w * h : w * h * 5 // 4].reshape(h // 2, w // 2),
                    packed.reshape(-1)[w * h * 5 // 4 :].reshape(h // 2, w // 2)]  # fmt: skip
            for got, plane in zip(_planes(frame), want, strict=True):
                assert np.array_equal(got, plane), (w, h)
    packed = np.zeros((1080, 1280), np.uint8)  # 1280x720: wrapped, not copied
    frame = convert.yuv420p_frame(av, packed)
    packed[0, 0] = 77
    assert _planes(frame)[0][0, 0] == 77


def _planes(yuv: object) -> list[np.ndarray]:
    return [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
            for p in yuv.planes]  # type: ignore[attr-defined]  # fmt: skip


@pytest.mark.parametrize("path", ["swscale", "opencv"])
@pytest.mark.parametrize(
    ("width", "height", "channels"),
    [(1280, 720, 3), (1280, 720, 4), (641, 481, 3), (641, 481, 4), (34, 18, 3)],
)
def test_fast_conversion_paths_match_the_reference(
    path: str, width: int, height: int, channels: int
) -> None:
    """Both CPU conversions x264 may take (swscale, sliced over threads from 640x480 up,
    and OpenCV's), against the NumPy reference on content with every colour: within one
    level in every plane, odd sizes padded as the reference pads them."""
    import av

    rng = np.random.default_rng(width + channels)
    img = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    ew, eh = convert.even_size(width, height)
    if path == "swscale":
        planes = _planes(convert.swscale_i420(av, img, ew, eh))
    else:
        import cv2  # in the dev extra, so this runs wherever the suite does

        packed = convert.opencv_i420(cv2, img)
        assert packed.shape == (eh * 3 // 2, ew)
        q = ew * eh // 4
        chroma = packed[eh:].reshape(-1)
        planes = [packed[:eh], chroma[:q].reshape(eh // 2, ew // 2),
                  chroma[q:].reshape(eh // 2, ew // 2)]  # fmt: skip
    ref = convert.rgb_to_i420_reference(img)
    for got, want in zip(planes, ref, strict=True):
        assert got.shape == want.shape
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
    for got, want in zip(_planes(a), ref, strict=True):
        assert np.abs(got.astype(int) - want).max() <= 1


def test_reference_conversion_round_trips() -> None:
    img = np.repeat(np.repeat(np.array(patterns.TEST_CARD_COLOURS, np.uint8)[None], 2, 0), 2, 1)
    img = img.reshape(2, 8, 3)[:, :8]
    back = convert.i420_to_rgb_reference(*convert.rgb_to_i420_reference(img))
    assert np.abs(back.astype(int) - img).max() <= 2


def test_nal_helpers() -> None:
    stream = b"\x00\x00\x00\x01\x67\x42\xc0\x1f\xaa\x00\x00\x01\x68\xce\x00\x00\x01\x65\x88"
    assert h264.nal_types(stream) == [7, 8, 5]
    assert h264.is_idr(stream)
    assert h264.codec_string(h264.find_sps(stream)) == "avc1.42C01F"
    with pytest.raises(ValueError):
        h264.codec_string(b"\x68\x00\x00\x00")


def test_registry_reports_what_can_run() -> None:
    assert encoders.unavailable_reason("image/jpeg") is None
    assert encoders.unavailable_reason("webcodecs/h264-annexb") is None
    assert "no encoder" in encoders.unavailable_reason("video/av1")
