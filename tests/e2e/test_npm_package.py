"""The npm package "rfb-view" (browser/package.json) as an app uses it: `npm pack` it, install
the tarball into a fresh app with React, TypeScript and esbuild from the npm registry (pinned
below; npm's cache is kept in .cache/npm-app/), type-check the app against the package's
declarations (strict, moduleResolution "bundler" and "nodenext"), bundle a vanilla
TypeScript page and a React component with esbuild, serve them from a static site on its
own loopback port next to an rfb server that lets that origin in, and drive them in
Chromium: the test card drawn, a click arriving in frame pixels, the React component's view
disposed on unmount, and a page under `Content-Security-Policy: worker-src 'self'` drawing
with the package's worker file (and not with the default blob: worker)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tarfile
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import rfb

from support.browser import collect, open_page, wait_for
from support.paths import ROOT
from support.pixels import assert_test_card, quadrant_colours
from support.servers import publishing, running_app

# the async tests share the module's loop with its browser fixture (the others are plain)
on_module_loop = pytest.mark.asyncio(loop_scope="module")

BROWSER = ROOT / "browser"
STATIC = ROOT / "rfb" / "static"
NPM_CACHE = ROOT / ".cache" / "npm-app"
PACKAGE = "rfb-view"
# What the test app installs from the registry besides the tarball (exact versions).
APP_DEPENDENCIES = {
    "react": "19.3.1",
    "react-dom": "19.3.1",
    "@types/react": "19.3.3",
    "@types/react-dom": "19.3.0",
    "typescript": "7.0.2",
    "esbuild": "0.28.2",
}
# The stream is 640x360; the pages are 800x600 with the view filling them: under "contain"
# the frame is drawn at scale 1.25 on y 75..525.
W, H = 640, 360
PAGE_W, PAGE_H = 800, 600
CSP = "worker-src 'self'"

# -- the app ---------------------------------------------------------------------------

VANILLA_TS = """\
import { CloseCode, RemoteFramebufferView, type RemoteFramebufferViewOptions, type State,
         type Stats } from "rfb-view";

declare global {
  interface Window {
    rfbView?: RemoteFramebufferView;
    rfbStates: State[];
    rfbStats: Stats | null;
  }
}

const params = new URLSearchParams(location.search);
const url = params.get("ws");
if (!url) throw new Error("?ws=<the rfb server's WebSocket URL> is missing");
// Under a strict CSP (no blob: workers): the package's "rfb-view/worker" file, served by this site.
const workerFile = params.get("worker");

window.rfbStates = [];
window.rfbStats = null;
const options: RemoteFramebufferViewOptions = {
  url,
  fit: "contain",
  onState: (state: State) => window.rfbStates.push(state),
  onStats: (stats: Stats) => (window.rfbStats = stats),
};
if (workerFile) options.workerFactory = () => new Worker(workerFile, { name: "rfb" });
const view = new RemoteFramebufferView(document.getElementById("view")!, options);
window.rfbView = view;
const stop: () => void = view.onMessage((data: unknown) => console.log("rfb app:", data));

// The declarations are real types, not any: these must be refused.
// @ts-expect-error "stretch" is not a Fit
const badFit: RemoteFramebufferViewOptions = { fit: "stretch" };
// @ts-expect-error the view takes an element, not its id
const badTarget = () => new RemoteFramebufferView("view");
const unauthorized: 4401 = CloseCode.UNAUTHORIZED;
void [badFit, badTarget, stop, unauthorized];
"""

RFB_VIEW_TSX = """\
import { useEffect, useRef } from "react";
import { RemoteFramebufferView, type RemoteFramebufferViewOptions } from "rfb-view";

export interface RfbViewProps {
  url: string;
  fit?: RemoteFramebufferViewOptions["fit"];
  onView?: (view: RemoteFramebufferView | null) => void;
}

/** A RemoteFramebufferView in a <div>: made on mount, disposed on unmount. The view makes
 * its own canvas in the div (a canvas handed to a worker cannot be used twice, and
 * StrictMode mounts twice). */
export function RfbView({ url, fit, onView }: RfbViewProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const view = new RemoteFramebufferView(box.current!, { url, fit });
    onView?.(view);
    return () => {
      view.dispose();
      onView?.(null);
    };
  }, [url, fit, onView]);
  return <div ref={box} style={{ width: "100%", height: "100%" }} />;
}
"""

REACT_TSX = """\
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import type { RemoteFramebufferView } from "rfb-view";
import { RfbView } from "./RfbView";

declare global {
  interface Window {
    rfbView?: RemoteFramebufferView;
    rfbViews: number;
    unmountView: () => void;
  }
}

const url = new URLSearchParams(location.search).get("ws") ?? "";
window.rfbViews = 0;
const onView = (view: RemoteFramebufferView | null) => {
  if (view) {
    window.rfbView = view;
    window.rfbViews += 1;
  }
};

function App() {
  const [shown, setShown] = useState(true);
  window.unmountView = () => setShown(false);
  return shown ? <RfbView url={url} onView={onView} /> : <p id="unmounted">unmounted</p>;
}

createRoot(document.getElementById("root")!).render(<StrictMode><App /></StrictMode>);
"""

JANUS_TS = """\
import { JanusWatcher, type JanusWatchOptions } from "rfb-view/janus";

const options: JanusWatchOptions = {
  server: "http://127.0.0.1:8088/janus",
  mountpoint: 1,
  video: document.createElement("video"),
  onState: (state: string, detail?: string) => console.log(state, detail),
};
export const watcher: JanusWatcher = new JanusWatcher(options);
"""

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rfb-view test app</title>
<link rel="icon" href="data:,">
<style>html, body {{ margin: 0; height: 100%; overflow: hidden; background: #111; }}
#{box} {{ position: fixed; inset: 0; }}</style>
</head>
<body>
<div id="{box}"></div>
<script type="module" src="./{script}"></script>
</body>
</html>
"""

COMPILER_OPTIONS: dict[str, object] = {
    "target": "ES2022",
    "module": "ESNext",
    "moduleResolution": "Bundler",
    "lib": ["ES2022", "DOM", "DOM.Iterable"],
    "jsx": "react-jsx",
    "strict": True,
    "noEmit": True,
    "isolatedModules": True,
    "skipLibCheck": False,  # the package's declarations are checked too
    "types": [],
}
TSCONFIG = {"compilerOptions": COMPILER_OPTIONS, "include": ["src"]}
# Node's own resolution (package "exports", ".js" endings in the declarations).
TSCONFIG_NODENEXT = {
    "compilerOptions": {**COMPILER_OPTIONS, "module": "NodeNext", "moduleResolution": "NodeNext"},
    "files": ["src/vanilla.ts", "src/janus.ts"],
}


def run(cmd: list[str], cwd: Path, timeout: float = 600) -> str:
    env = {**os.environ, "npm_config_cache": str(NPM_CACHE / "cache"), "npm_config_update_notifier": "false",
           "npm_config_fund": "false", "npm_config_audit": "false"}  # fmt: skip
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} in {cwd} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`npm pack` of browser/ (its prepack script builds browser/dist first)."""
    if shutil.which("npm") is None or not (BROWSER / "node_modules").is_dir():
        pytest.fail(
            "npm or browser/node_modules is missing: run `npm ci` in browser/ (scripts/test does)"
        )
    out = tmp_path_factory.mktemp("pack")
    run(["npm", "pack", "--pack-destination", str(out), "--loglevel=error"], BROWSER)
    (tgz,) = out.glob("*.tgz")
    return tgz


@pytest.fixture(scope="module")
def app(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh app with the tarball installed, its pages bundled into public/."""
    root = tmp_path_factory.mktemp("app")
    package = {"name": "rfb-view-test-app", "private": True, "type": "module",
               "dependencies": {PACKAGE: f"file:{tarball}", **APP_DEPENDENCIES}}  # fmt: skip
    (root / "package.json").write_text(json.dumps(package, indent=2))
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], root)
    src = root / "src"
    src.mkdir()
    for name, text in {"vanilla.ts": VANILLA_TS, "RfbView.tsx": RFB_VIEW_TSX, "react.tsx": REACT_TSX,
                       "janus.ts": JANUS_TS}.items():  # fmt: skip
        (src / name).write_text(text)
    (root / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2))
    (root / "tsconfig.nodenext.json").write_text(json.dumps(TSCONFIG_NODENEXT, indent=2))
    public = root / "public"
    # React in development mode: StrictMode mounts the component, unmounts it and mounts it
    # again, so the view is made, disposed and made once more.
    run([str(root / "node_modules" / ".bin" / "esbuild"), "src/vanilla.ts", "src/react.tsx",
         "src/janus.ts", "--bundle", "--format=esm", "--target=chrome110", f"--outdir={public}",
         "--define:process.env.NODE_ENV=\"development\"", "--log-level=warning"], root)  # fmt: skip
    (public / "vanilla.html").write_text(PAGE.format(box="view", script="vanilla.js"))
    (public / "react.html").write_text(PAGE.format(box="root", script="react.js"))
    # The worker file, found through the package's "./worker" export as Node resolves it.
    worker = run(["node", "-p", f"require.resolve('{PACKAGE}/worker')"], root).strip()
    shutil.copyfile(worker, public / "rfb-worker.js")
    return root


def static_site(public: Path, requested: list[str]) -> Any:
    """The app's pages; /csp.html is the vanilla page under a CSP that forbids blob: workers."""
    from aiohttp import web

    @web.middleware
    async def log_and_csp(request: web.Request, handler: Any) -> web.StreamResponse:
        requested.append(request.path)
        response = await handler(request)
        if request.path == "/csp.html":
            response.headers["Content-Security-Policy"] = CSP
        return response

    async def page(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = public / ("vanilla.html" if name == "csp.html" else name)
        if "/" in name or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    site = web.Application(middlewares=[log_and_csp])
    site.router.add_get("/{name}", page)
    return site


@contextlib.asynccontextmanager
async def serving(app: Path) -> AsyncIterator[tuple[str, rfb.Display, list[str]]]:
    """The app's site on one loopback port; an rfb server publishing the test card on
    another, letting the site's origin in. Yields the site's origin, the display and the
    paths the site was asked for."""
    requested: list[str] = []
    async with running_app(static_site(app / "public", requested)) as port:
        origin = f"http://127.0.0.1:{port}"
        display = await rfb.serve(W, H, port=0, origins=[origin])
        try:
            async with publishing(display):
                yield origin, display, requested
        finally:
            await display.aclose()


async def assert_draws_and_clicks(page: Any, display: rfb.Display) -> None:
    """The canvas shows the test card letterboxed, and a click lands in frame pixels."""
    from support.browser import capture

    img = await capture(page)
    assert img.shape == (PAGE_H, PAGE_W, 4)
    assert tuple(img[30, 400, :3]) == (0, 0, 0) and tuple(img[570, 400, :3]) == (0, 0, 0)
    assert_test_card(quadrant_colours(img, 0, 75, PAGE_W, 450), 6)
    display.poll_events()
    await page.mouse.click(100, 100)
    down, up = await collect(display, 2, {"pointer_down", "pointer_up"})
    assert (down.type, up.type) == ("pointer_down", "pointer_up")
    assert (down.event["x"], down.event["y"]) == (pytest.approx(80), pytest.approx(20))
    assert down.event["button"] == 1 and down.event["inside"] is True


# -- tests -----------------------------------------------------------------------------


def test_the_package_ships_rfb_static_s_files_its_types_and_no_dependencies(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        for name in ("rfb.js", "rfb-worker.js", "janus.js"):
            shipped = tar.extractfile(f"package/dist/{name}").read()  # type: ignore[union-attr]
            assert shipped == (STATIC / name).read_bytes(), (
                f"dist/{name} differs from rfb/static/{name}"
            )
    assert manifest["name"] == PACKAGE and manifest["license"] == "MIT"
    # the Python package's version (pyproject.toml)
    assert (
        manifest["version"]
        == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    )
    assert not manifest.get("dependencies") and "private" not in manifest
    assert manifest["sideEffects"] is False
    exports = manifest["exports"]
    assert exports["."] == {"types": "./dist/types/index.d.ts", "default": "./dist/rfb.js"}
    assert exports["./worker"] == "./dist/rfb-worker.js"
    assert exports["./janus"] == {"types": "./dist/types/janus.d.ts", "default": "./dist/janus.js"}
    for target in (manifest["types"], exports["."]["types"], exports["./janus"]["types"]):
        assert f"package/{target.removeprefix('./')}" in names, target
    assert "package/README.md" in names and "package/LICENSE" in names
    # only what an app needs: no sources, tests, build script or demo pages
    assert all(n.startswith(("package/dist/", "package/README.md", "package/LICENSE",
                             "package/package.json")) for n in names), sorted(names)  # fmt: skip


def test_npm_publish_dry_run_passes() -> None:
    """What `npm publish` would upload is accepted (nothing is published: --dry-run)."""
    out = run(["npm", "publish", "--dry-run", "--loglevel=notice"], BROWSER)
    assert f"{PACKAGE}@" in out


def test_the_app_type_checks_against_the_package(app: Path) -> None:
    tsc = str(app / "node_modules" / ".bin" / "tsc")
    run([tsc, "--noEmit", "-p", "tsconfig.json"], app)
    run([tsc, "--noEmit", "-p", "tsconfig.nodenext.json"], app)
    # and a misuse is caught (the types are not any)
    (app / "src" / "wrong.ts").write_text(
        'import { RemoteFramebufferView } from "rfb-view";\n'
        'new RemoteFramebufferView(document.body, { transport: "carrier-pigeon" });\n'
    )
    try:
        r = subprocess.run([tsc, "--noEmit", "-p", "tsconfig.json"], cwd=app, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
        assert r.returncode != 0 and "carrier-pigeon" in r.stdout, r.stdout + r.stderr
    finally:
        (app / "src" / "wrong.ts").unlink()


def test_node_imports_the_package_without_a_browser(app: Path) -> None:
    """Server-side rendering (Next.js, Nuxt, SvelteKit) imports the modules in Node: they
    must not touch browser globals until a view is made."""
    script = (
        'import { RemoteFramebufferView, CloseCode } from "rfb-view";\n'
        'import { JanusWatcher } from "rfb-view/janus";\n'
        "console.log(JSON.stringify([typeof RemoteFramebufferView, CloseCode.UNAUTHORIZED, typeof JanusWatcher]));\n"
    )
    out = run(["node", "--input-type=module", "-e", script], app)
    assert json.loads(out) == ["function", 4401, "function"]


@on_module_loop
async def test_vanilla_page_draws_the_frame_and_sends_a_click(browser, app: Path) -> None:
    async with serving(app) as (origin, display, _):
        ctx, page = await open_page(browser, f"{origin}/vanilla.html?ws={display.ws_url}",
                                    width=PAGE_W, height=PAGE_H)  # fmt: skip
        try:
            await assert_draws_and_clicks(page, display)
            assert "negotiated" in await page.evaluate("window.rfbStates")
            assert await page.evaluate("window.rfbStats.framesDisplayed") > 0
        finally:
            await ctx.close()


@on_module_loop
async def test_react_component_draws_and_disposes_its_view_on_unmount(browser, app: Path) -> None:
    async with serving(app) as (origin, display, _):
        ctx, page = await open_page(browser, f"{origin}/react.html?ws={display.ws_url}",
                                    width=PAGE_W, height=PAGE_H)  # fmt: skip
        try:
            # StrictMode (development build) mounted it twice: the first view was disposed
            assert await page.evaluate("window.rfbViews") == 2
            assert await page.evaluate("document.querySelectorAll('canvas').length") == 1
            await assert_draws_and_clicks(page, display)
            await page.evaluate("window.unmountView()")
            await wait_for(
                page, "window.rfbView.state === 'closed' && !document.querySelector('canvas')"
            )
            async with asyncio.timeout(5):
                while display.metrics()["viewers"]:
                    await asyncio.sleep(0.05)
        finally:
            await ctx.close()


@on_module_loop
async def test_strict_csp_page_draws_with_the_worker_file(browser, app: Path) -> None:
    record_violations = """
        window.__csp = [];
        document.addEventListener("securitypolicyviolation",
            (e) => window.__csp.push(`${e.effectiveDirective} ${e.blockedURI}`));
    """
    async with serving(app) as (origin, display, requested):
        # The default (blob:) worker is refused under this CSP: the header really applies.
        ctx = await browser.new_context(viewport={"width": PAGE_W, "height": PAGE_H})
        try:
            await ctx.add_init_script(record_violations)
            page = await ctx.new_page()
            await page.goto(f"{origin}/csp.html?ws={display.ws_url}")
            violations = await wait_for(page, "window.__csp.length && window.__csp")
            assert any(v.startswith("worker-src blob") for v in violations), violations
            await asyncio.sleep(1.0)
            assert await page.evaluate("window.rfbView?.stats?.framesDisplayed ?? 0") == 0
        finally:
            await ctx.close()
        # With the package's worker file, served by the site itself, the page draws.
        requested.clear()
        ctx, page = await open_page(browser, f"{origin}/csp.html?ws={display.ws_url}&worker=./rfb-worker.js",
                                    width=PAGE_W, height=PAGE_H)  # fmt: skip
        try:
            assert "/rfb-worker.js" in requested
            assert await page.evaluate("window.__csp ?? []") == []
            await assert_draws_and_clicks(page, display)
        finally:
            await ctx.close()
