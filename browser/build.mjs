// Build the browser client into ../rfb/static/ (committed, so pip users need no Node):
//   rfb.js         ES module exporting RemoteFramebufferView, with the worker inlined (blob worker)
//   rfb-worker.js  the same worker as a file, for pages whose CSP forbids blob: workers
//   widget.js      the notebook widget (anywidget ESM) for rfb/notebook.py
//   index.html     the demo page the Python server serves at /
//   janus.js, janus.html  a watcher of the stream relayed through Janus (docs/guides/deployment.md)
// The same pass also writes the npm package "rfb-view" (README.md here) into dist/ (ignored
// by git; `npm pack` and `npm publish` build it first):
//   dist/rfb.js, dist/rfb-worker.js, dist/janus.js   the files above, byte for byte
//   dist/types/*.d.ts   declarations of src/index.ts and src/janus.ts (tsc, tsconfig.types.json)
//   node build.mjs           writes rfb/static/ and dist/
//   node build.mjs --dist    writes dist/ only (npm's prepack)
//   node build.mjs --check   builds in memory and fails if the committed rfb/static differs
import * as esbuild from "esbuild";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "rfb", "static");
const dist = join(here, "dist");
const check = process.argv.includes("--check");
const distOnly = process.argv.includes("--dist");

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

// The Janus watcher (docs/guides/deployment.md): a module and its page, for streams relayed over RTP.
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

// What the npm package ships of those files ("exports" in package.json points at them).
const DIST_FILES = ["rfb.js", "rfb-worker.js", "janus.js"];
// The modules whose declarations the package ships: "." and "./janus".
const TYPE_ENTRIES = ["index.d.ts", "janus.d.ts"];

/** The declarations of the package's entry points and of every module they import, with each
 * relative import given its ".js" ending, so that they resolve under moduleResolution
 * "nodenext" as well as "bundler" (the sources import without endings). */
function declarations() {
  const tmp = mkdtempSync(join(tmpdir(), "rfb-types-"));
  try {
    const tsc = join(here, "node_modules", "typescript", "bin", "tsc");
    execFileSync(process.execPath, [tsc, "-p", join(here, "tsconfig.types.json"), "--outDir", tmp], { stdio: "inherit" });
    const types = {};
    const todo = [...TYPE_ENTRIES];
    while (todo.length) {
      const name = todo.pop();
      if (name in types) continue;
      const text = readFileSync(join(tmp, name), "utf8");
      types[name] = text.replace(/((?:from|import)\s*\(?\s*)"(\.{1,2}\/[^"]+?)(?:\.js)?"/g, (_, head, spec) => {
        todo.push(posix.normalize(posix.join(posix.dirname(name), `${spec}.d.ts`)));
        return `${head}"${spec}.js"`;
      });
    }
    return types;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function writeDist() {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(join(dist, "types"), { recursive: true });
  for (const name of DIST_FILES) writeFileSync(join(dist, name), files[name]);
  for (const [name, text] of Object.entries(declarations())) {
    mkdirSync(dirname(join(dist, "types", name)), { recursive: true });
    writeFileSync(join(dist, "types", name), text);
  }
  console.log(`wrote browser/dist (${DIST_FILES.join(", ")}, types/)`);
}

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
  if (!distOnly) {
    mkdirSync(out, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text);
    console.log(`wrote ${Object.keys(files).map((n) => join("rfb/static", n)).join(", ")}`);
  }
  writeDist();
}
