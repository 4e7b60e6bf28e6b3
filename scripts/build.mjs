// Bundles the CLI into dist/ with esbuild. Code-split ESM: each command's
// implementation is its own chunk, loaded by a dynamic import only when that
// command runs (so `version` and `upgrade list` never load viem or the HTTP stack).
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { chmodSync, copyFileSync, existsSync, readFileSync, renameSync, rmSync } from "node:fs"
import { gzipSync } from "node:zlib"

// src/ imports Effect's packages module by module (`import * as Effect from
// "effect/Effect"`), never from a package's index (`import { Effect } from
// "effect"`): the index re-exports each module as a namespace, and esbuild
// keeps such a namespace whole — every export of Effect, Schema (with
// fast-check), Stream, … and of @effect/cli's Options (with yaml, toml, ini)
// ended up in the chunks every command loads. `wemixvisor upgrade list`
// loaded 914 KiB of JavaScript that way, 484 KiB now (scripts/bench-cold.mjs;
// test/imports.test.ts keeps it so).

// Build beside dist/ and swap it in, so a test run using dist/ never sees a half-written tree.
const out = `dist.${process.pid}.tmp`
rmSync(out, { recursive: true, force: true })
const result = await build({
  entryPoints: { bin: "src/bin.ts" },
  outdir: out,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  minify: true,
  legalComments: "none",
  metafile: true,
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "warning",
  // CommonJS dependencies (ws, …) call require(); ESM has none.
  banner: {
    js:
      "#!/usr/bin/env node\nimport { createRequire as __wvCreateRequire } from 'node:module'; const require = __wvCreateRequire(import.meta.url);"
  }
})
chmodSync(`${out}/bin.js`, 0o755)

// `wemixvisor/api` (package.json "exports"): the typed RPC client as its own
// ESM entry. Dependencies stay external, so a client program shares one copy
// of effect and @effect/rpc with it; tsc emits its declarations.
await build({
  entryPoints: { api: "src/api/index.ts" },
  outdir: out,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning"
})
execFileSync(process.execPath, [
  "node_modules/typescript/bin/tsc",
  "-p",
  "tsconfig.types.json",
  "--outDir",
  `${out}/types`
], {
  stdio: "inherit"
})

// The dashboard (src/dashboard/, served by `run` at `/`): a browser program,
// type-checked with DOM types on its own (the main tsconfig keeps them out of
// the Node code), bundled apart from the CLI so none of it reaches the CLI's
// chunks, into dist/dashboard/{index.html,app.js,app.css}.
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "src/dashboard", "--noEmit"], {
  stdio: "inherit"
})
const page = await build({
  entryPoints: { app: "src/dashboard/app.ts" },
  outdir: `${out}/dashboard`,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome109", "firefox115", "safari16"],
  minify: true,
  legalComments: "none",
  metafile: true,
  logLevel: "warning"
})
await build({
  entryPoints: { app: "src/dashboard/style.css" },
  outdir: `${out}/dashboard`,
  bundle: true,
  minify: true,
  target: ["chrome109", "firefox115", "safari16"],
  logLevel: "warning"
})
// The page is its own, written as it is: everything it loads is same-origin (its Content-Security-Policy says so).
copyFileSync("src/dashboard/index.html", `${out}/dashboard/index.html`)
if (Object.keys(page.metafile.inputs).some((f) => !f.startsWith("src/dashboard/"))) {
  throw new Error(`the dashboard bundles more than src/dashboard/: ${Object.keys(page.metafile.inputs).join(", ")}`)
}

const old = `dist.${process.pid}.old`
if (existsSync("dist")) renameSync("dist", old)
renameSync(out, "dist")
rmSync(old, { recursive: true, force: true })
if (process.env.BUILD_REPORT) {
  for (const [file, info] of Object.entries(result.metafile.outputs)) {
    if (file.endsWith(".js")) {
      console.log(`${(info.bytes / 1024).toFixed(0).padStart(6)} KiB  ${file.replace(out, "dist")}`)
    }
  }
  for (const f of ["index.html", "app.js", "app.css"]) {
    const bytes = readFileSync(`dist/dashboard/${f}`)
    console.log(
      `${String(bytes.length).padStart(6)} B    dist/dashboard/${f} (${gzipSync(bytes, { level: 9 }).length} B gzip)`
    )
  }
}
