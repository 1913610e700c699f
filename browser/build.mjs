// Build the browser client into ../rfb/static/ (committed, so pip users need no Node):
//   rfb.js         ES module exporting RemoteFramebufferView, with the worker inlined (blob worker)
//   rfb-worker.js  the same worker as a file, for pages whose CSP forbids blob: workers
//   widget.js      the notebook widget (anywidget ESM) for rfb/notebook.py
//   index.html     the demo page the Python server serves at /
//   janus.js, janus.html  a watcher of the stream relayed through Janus (docs/janus.md)
// `node build.mjs --check` builds in memory and fails if the committed files differ.
import * as esbuild from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "rfb", "static");
const check = process.argv.includes("--check");

const common = {
  bundle: true,
  write: false,
  minify: true,
  legalComments: "none",
  target: ["chrome110", "firefox115", "safari17"],
  logLevel: "warning",
};

const worker = await esbuild.build({
  ...common,
  entryPoints: [join(here, "src", "worker", "worker.ts")],
  format: "iife",
});
const workerJs = worker.outputFiles[0].text;

const main = await esbuild.build({
  ...common,
  entryPoints: [join(here, "src", "index.ts")],
  format: "esm",
  define: { __RFB_WORKER_SOURCE__: JSON.stringify(workerJs) },
});

// The notebook widget: an anywidget module (export default { render }) around the same view.
const widget = await esbuild.build({
  ...common,
  entryPoints: [join(here, "src", "widget.ts")],
  format: "esm",
  define: { __RFB_WORKER_SOURCE__: JSON.stringify(workerJs) },
});

// The Janus watcher (docs/janus.md): a module and its page, for streams relayed over RTP.
const janus = await esbuild.build({
  ...common,
  entryPoints: [join(here, "src", "janus.ts")],
  format: "esm",
});

const files = {
  "rfb.js": main.outputFiles[0].text,
  "janus.js": janus.outputFiles[0].text,
  "janus.html": readFileSync(join(here, "demo", "janus.html"), "utf8"),
  "widget.js": widget.outputFiles[0].text,
  "rfb-worker.js": workerJs,
  "index.html": readFileSync(join(here, "demo", "index.html"), "utf8"),
};

if (check) {
  const stale = Object.entries(files).filter(([name, text]) => {
    const path = join(out, name);
    return !existsSync(path) || readFileSync(path, "utf8") !== text;
  });
  if (stale.length) {
    console.error(`rfb/static is stale (${stale.map(([n]) => n).join(", ")}): run npm run build in browser/`);
    process.exit(1);
  }
  console.log("rfb/static matches a fresh build");
} else {
  mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text);
  console.log(`wrote ${Object.keys(files).map((n) => join("rfb/static", n)).join(", ")}`);
}
