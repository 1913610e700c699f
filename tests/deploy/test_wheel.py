"""The wheel as users get it: built with ``python -m build`` (the sdist, then the wheel
from the sdist, so a file the sdist leaves out is missing from the wheel too), checked
with ``twine check``, and installed with the ``h264`` extra into a clean virtual
environment, where rfb runs from a folder outside the repository: the README's example
with a viewer that decodes its frames, the commands, a lean ``import rfb``, the version,
and a user's mypy reading rfb's types.

Slow-ish (about 35 s on 2 cores with pip's cache warm: two builds, a virtual environment,
pip installs, mypy on rfb); the first run on a machine also downloads setuptools, PyAV,
NumPy, aiohttp and mypy from PyPI into pip's cache. Everything else lives in one temporary
folder, removed at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.paths import ROOT

pytestmark = pytest.mark.slow

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# Packages behind extras (or loaded only on use): `import rfb` must not pull any in.
OPTIONAL = ("av", "aiortc", "aioice", "cupy", "anywidget", "rendercanvas", "uvicorn",
            "matplotlib", "cv2", "prometheus_client")  # fmt: skip
SUBPACKAGES = ("server", "rtp", "bench", "session", "transports", "signaling", "encoders")


@dataclass
class Built:
    wheel: Path
    sdist: Path


@dataclass
class Venv:
    python: Path
    bin: Path
    work: Path  # the current folder of every command: not the repository
    env: dict[str, str]

    def run(self, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run([*args], cwd=self.work, env=self.env, timeout=timeout, check=False)


def run(
    cmd: list[str | Path], *, cwd: Path, timeout: float, env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    if check:
        assert proc.returncode == 0, explain(proc)
    return proc


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    cmd = " ".join(str(a) for a in proc.args)
    return f"{cmd} exited {proc.returncode}\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"


@pytest.fixture(scope="module")
def tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rfb-wheel-") as d:
        yield Path(d)


@pytest.fixture(scope="module")
def built(tmp: Path) -> Built:
    out = tmp / "dist"
    # Without --sdist/--wheel, build makes the sdist and then the wheel from it.
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], cwd=tmp, timeout=600)
    wheels = list(out.glob("rfb-*.whl"))
    sdists = list(out.glob("rfb-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return Built(wheels[0], sdists[0])


@pytest.fixture(scope="module")
def venv(tmp: Path, built: Built) -> Venv:
    root = tmp / "venv"
    run([sys.executable, "-m", "venv", root], cwd=tmp, timeout=300)  # no system site-packages
    bin_dir = root / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}  # fmt: skip
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(root),
               PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")  # fmt: skip
    work = tmp / "work"
    work.mkdir()
    v = Venv(bin_dir / "python", bin_dir, work, env)
    # pip's own cache (not --no-cache-dir): a rerun installs without downloading.
    proc = v.run(v.python, "-m", "pip", "install", f"{built.wheel}[h264]", "mypy", timeout=600)
    assert proc.returncode == 0, explain(proc)
    return v


def test_twine_check(built: Built) -> None:
    proc = run([sys.executable, "-m", "twine", "check", "--strict", built.sdist, built.wheel],
               cwd=built.wheel.parent, timeout=120)  # fmt: skip
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_wheel_holds_the_package(built: Built) -> None:
    assert built.wheel.name.startswith(f"rfb-{VERSION}-py3-none-any"), built.wheel.name
    with zipfile.ZipFile(built.wheel) as z:
        names = set(z.namelist())
        metadata = z.read(f"rfb-{VERSION}.dist-info/METADATA").decode()
    assert "rfb/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)  # the MIT text
    statics = {p.relative_to(ROOT).as_posix() for p in (ROOT / "rfb" / "static").iterdir()}
    assert {"rfb/static/index.html", "rfb/static/rfb.js", "rfb/static/rfb-worker.js"} <= statics
    assert statics <= names, sorted(statics - names)
    for sub in SUBPACKAGES:
        assert f"rfb/{sub}/__init__.py" in names, sub
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "rfb").rglob("*.py")}
    assert sources <= names, sorted(sources - names)
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "browser/"))]
    assert "Provides-Extra: h264" in metadata and "Classifier: Typing :: Typed" in metadata


def test_sdist_holds_the_sources(built: Built) -> None:
    top = f"rfb-{VERSION}"
    with tarfile.open(built.sdist) as t:
        names = set(t.getnames())
    for f in ("pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "rfb/py.typed",
              "rfb/static/rfb.js", "rfb/static/index.html", "rfb/server/__init__.py"):  # fmt: skip
        assert f"{top}/{f}" in names, f


def test_import_is_lean_and_versioned(venv: Venv) -> None:
    proc = venv.run(venv.python, "-c", textwrap.dedent(f"""
        import json, sys
        import rfb
        print(json.dumps({{"version": rfb.__version__, "file": rfb.__file__,
                          "loaded": [m for m in {OPTIONAL!r} if m in sys.modules]}}))
        """))  # fmt: skip
    assert proc.returncode == 0, explain(proc)
    got = json.loads(proc.stdout)
    assert Path(got["file"]).is_relative_to(venv.python.parent.parent), got["file"]
    assert got["version"] == VERSION
    assert got["loaded"] == [], f"import rfb loaded optional packages: {got['loaded']}"


# The README's example ("Use it"), on a free port and for a couple of seconds, with two
# viewers of rfb.client decoding what it sends (H.264 through the h264 extra, and JPEG).
README_EXAMPLE = """
import asyncio
import json

import numpy as np

import rfb
from rfb import client, protocol

W, H, BAND = 640, 360, 40


def published(x):
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:] = 30
    frame[:, x : x + BAND] = (220, 200, 40)
    return frame


async def run_example(display, stop):  # the README's loop
    frame = np.zeros((H, W, 3), np.uint8)
    x = 0
    while not stop.is_set():
        frame[:] = 30
        frame[:, x : x + BAND] = (220, 200, 40)  # a moving band
        display.publish(frame)  # copied; reuse your buffer freely
        for ev in display.poll_events():  # pointer, wheel, keys, resize
            if ev.type == "pointer_down":
                print(ev.client_id, "clicked at", ev.event["x"], ev.event["y"])
        x = (x + 4) % (W - BAND)
        await asyncio.sleep(1 / 30)


async def watch(display, supported, n=3):
    seen = []
    async with client.connect(display.ws_url, supported) as viewer:
        for _ in range(60):
            frame = await viewer.next_frame(decode=True)
            if frame.pixels is None:
                continue
            px = frame.pixels.astype(np.int16)
            # The frame published closest to what was decoded: its mean error, and how far.
            errors = {x: float(np.abs(px - published(x)).mean()) for x in range(0, W - BAND, 4)}
            x = min(errors, key=errors.get)
            seen.append({"type": frame.header["type"], "shape": list(px.shape),
                         "x": x, "error": errors[x]})
            if len(seen) == n:
                break
    return seen


async def main():
    display = await rfb.serve(W, H, port=0)  # port=0 picks a free port
    print("open", display.url)
    stop = asyncio.Event()
    example = asyncio.create_task(run_example(display, stop))
    try:
        h264 = await watch(display, [protocol.CAP_H264, protocol.CAP_JPEG])
        jpeg = await watch(display, [protocol.CAP_JPEG])
    finally:
        stop.set()
        await example
        await display.aclose()
    print(json.dumps({"h264": h264, "jpeg": jpeg}))


asyncio.run(main())
"""


def test_readme_example_runs_and_a_viewer_decodes_it(venv: Venv) -> None:
    script = venv.work / "example.py"
    script.write_text(README_EXAMPLE)
    proc = venv.run(venv.python, script, timeout=120)
    assert proc.returncode == 0, explain(proc)
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("open http://127.0.0.1:"), lines[0]
    got = json.loads(lines[-1])
    for kind, wire in (("h264", "video_chunk"), ("jpeg", "image_frame")):
        frames = got[kind]
        assert len(frames) == 3, got
        for f in frames:
            assert f["type"] == wire and f["shape"] == [360, 640, 3], f
            # A band 40 pixels off would be ~15 off on average; flat grey ~12.
            assert f["error"] < 3, f


def test_commands_run(venv: Venv) -> None:
    for cmd in ((venv.python, "-m", "rfb", "--help"), (venv.bin / "rfb", "--help")):
        proc = venv.run(*cmd, timeout=120)
        assert proc.returncode == 0 and "--port" in proc.stdout, explain(proc)
    proc = venv.run(venv.bin / "rfb-bench", "--quick", timeout=300)
    assert proc.returncode == 0, explain(proc)
    assert "x264 ultrafast" in proc.stdout, explain(proc)  # PyAV from the h264 extra


def test_users_type_checker_reads_rfb_types(venv: Venv) -> None:
    (venv.work / "bad_call.py").write_text(textwrap.dedent("""
        import rfb


        async def main() -> None:
            display = await rfb.serve(64, 48, fps="fast")
            await display.aclose()
        """))  # fmt: skip
    (venv.work / "good_call.py").write_text(textwrap.dedent("""
        import numpy as np

        import rfb


        async def main() -> None:
            display = await rfb.serve(64, 48, fps=30, port=0)
            display.publish(np.zeros((48, 64, 3), np.uint8))
            await display.aclose()
            print(rfb.__version__.upper())
        """))  # fmt: skip
    proc = venv.run(venv.python, "-m", "mypy", "--no-color-output", "bad_call.py",
                    "good_call.py", timeout=300)  # fmt: skip
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if ": error:" in line]
    # Untyped, rfb would give "missing library stubs or py.typed marker" on both files.
    assert not [e for e in errors if e.startswith("good_call.py")], out
    assert any(e.startswith("bad_call.py") and '"fps"' in e for e in errors), out
    assert proc.returncode == 1, out
