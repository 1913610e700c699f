"""A pygfx scene, rendered by wgpu, streamed by rfb: drag to orbit, click to recolour.

    pip install 'rfb[rendercanvas]' pygfx
    python examples/pygfx_cube.py            # then open the URL it prints

No GPU needed: on Linux, Mesa's lavapipe (Debian's mesa-vulkan-drivers) renders on the CPU.
The canvas follows the viewer's window size (RfbRenderCanvas's resize="follow").
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pygfx

import rfb
from rfb.rendercanvas import RfbRenderCanvas, loop

COLOURS = ["#e03030", "#30c040"]  # red, then green after a click


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--size", default="640x480", help="starting size, WxH")
    p.add_argument("--print-events", action="store_true", help="one JSON line per event")
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    # The server on its own thread: rendering on this one does not hold up the sending.
    display = rfb.serve_in_thread(width, height, host=args.host, port=args.port)
    print(json.dumps({"url": display.url}), flush=True)

    canvas = RfbRenderCanvas(display=display, update_mode="continuous", max_fps=30)
    # On a CPU rasteriser, no supersampling or antialiasing pass: ~10x faster.
    renderer = pygfx.renderers.WgpuRenderer(canvas, pixel_scale=1, ppaa="none")
    scene = pygfx.Scene()
    scene.add(pygfx.Background.from_color("#000000"))
    material = pygfx.MeshPhongMaterial(color=COLOURS[0])
    cube = pygfx.Mesh(pygfx.box_geometry(200, 200, 200), material)
    scene.add(cube, pygfx.AmbientLight(intensity=0.6))
    camera = pygfx.PerspectiveCamera(50, width / height)
    camera.show_object(cube, scale=1.6)
    camera.add(pygfx.DirectionalLight(intensity=2.5))
    scene.add(camera)
    pygfx.OrbitController(camera, register_events=renderer)
    clicks = 0

    @canvas.add_event_handler("pointer_down", "key_down", "wheel", "resize")
    def on_event(event: dict[str, Any]) -> None:
        nonlocal clicks
        if event["event_type"] == "pointer_down" and event.get("button") == 1:
            clicks += 1
            material.color = COLOURS[clicks % 2]
        if args.print_events:
            keep = ("event_type", "x", "y", "button", "key", "dx", "dy", "width", "height")
            print(json.dumps({k: event[k] for k in keep if k in event}), flush=True)

    def animate() -> None:
        cube.local.euler_y += 0.01  # steady motion, like a render loop
        renderer.render(scene, camera)

    canvas.request_draw(animate)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    finally:
        display.close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
