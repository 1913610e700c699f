"""GPU figures, on any machine with CuPy and a CUDA device.

    python benchmarks/bench_gpu.py [--frames N]

Prints the device, the H.264 path serve() takes for device frames and why (NVENC, or the
fallback: GPU colour conversion + one copy of the YUV planes + libx264), the RGB -> I420
conversion time on the GPU at 1920x1080 and 3840x2160 (and swscale on the CPU for
comparison), and the encode path's milliseconds per frame for device frames, with how
many frames go in before the first access unit comes out (NVENC's output delay).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from rfb import encoders, patterns, protocol
from rfb.bench import nearest_rank
from rfb.encoders import convert, gpu, nvenc
from rfb.encoders.base import EncoderSettings


def median_ms(fn, n: int, sync=lambda: None) -> float:  # type: ignore[no-untyped-def]
    fn()
    sync()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=100)
    args = ap.parse_args()
    reason = gpu.cupy_unavailable_reason()
    if reason is not None:
        sys.exit(f"bench_gpu needs CuPy and a CUDA device: {reason}")
    import av
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    sync = cp.cuda.Device().synchronize
    print(f"device: {name}, CuPy {cp.__version__}")
    backend, why = gpu.choose_h264_backend(True, nvenc.nvenc_unavailable_reason(), None)
    print(f"H.264 path for device frames: {backend} — {why}")
    for w, h in ((1920, 1080), (3840, 2160)):
        host = patterns.make("scene", w, h)(3)
        dev = cp.asarray(host)
        gpu_ms = median_ms(lambda dev=dev: convert.rgb_to_i420(dev, xp=cp), args.frames, sync)
        packed_ms = median_ms(
            lambda dev=dev: cp.asnumpy(convert.i420_packed(*convert.rgb_to_i420(dev, xp=cp), xp=cp)),
            args.frames, sync,
        )  # fmt: skip
        sws_ms = median_ms(
            lambda host=host: av.VideoFrame.from_ndarray(host, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU601", dst_color_range="MPEG", interpolation="AREA"
            ),
            max(10, args.frames // 5),
        )  # fmt: skip
        cpu_name = "OpenCV" if convert.load_cv2() is not None else "swscale"
        cpu_ms = median_ms(
            lambda host=host, w=w, h=h: convert.cpu_i420(av, host, w, h), max(10, args.frames // 5)
        )
        print(f"{w}x{h}: GPU conversion {gpu_ms:.3f} ms; + copy of the YUV planes to the host "
              f"{packed_ms:.3f} ms; on the CPU: rfb's host path {cpu_name} {cpu_ms:.2f} ms, "
              f"swscale {sws_ms:.2f} ms")  # fmt: skip
        # The realistic scene (fine detail, steady pan) first; bouncing_box is nearly empty
        # and encodes far faster than users' renders: a trivial-pattern row, labelled so.
        for name, label in (("scene", "realistic scene"), ("bouncing_box", "trivial pattern")):
            for device in (True, False):
                render = (patterns.make_device(name, w, h) if device
                          else patterns.make(name, w, h))  # fmt: skip
                frames = [render(i) for i in range(args.frames)]
                sync()
                enc = encoders.create(protocol.CAP_H264, w, h, EncoderSettings(fps=30),
                                      device=device)  # fmt: skip
                ms = []
                out = []
                for i, f in enumerate(frames):
                    t = time.perf_counter()
                    out.append(enc.encode(f, i % 30 == 0, i * 33333))
                    ms.append((time.perf_counter() - t) * 1000)
                enc.close()
                delay = next((i for i, p in enumerate(out) if p is not None), len(out))
                size = statistics.mean(len(p.data) for p in out if p is not None) / 1000
                where = "device frames" if device else "host frames"
                print(f"{w}x{h} {label}, {where}: encode path {enc.name} "
                      f"{statistics.median(ms):.2f} ms p50, {nearest_rank(ms, 95):.2f} ms p95 "
                      f"per frame, {size:.1f} kB ({len(ms)} frames); first access unit after "
                      f"{delay + 1} frame(s) in")  # fmt: skip


if __name__ == "__main__":
    main()
