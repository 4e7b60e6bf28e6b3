// Bundles the CLI into dist/ with esbuild. Code-split ESM: each command's
// implementation is its own chunk, loaded by a dynamic import only when that
// command runs (so `version` and `upgrade list` never load viem or the HTTP stack).
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { chmodSync, existsSync, renameSync, rmSync } from "node:fs"

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
}
