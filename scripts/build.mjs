// Bundles the CLI into dist/ with esbuild. Code-split ESM: each command's
// implementation is its own chunk, loaded by a dynamic import only when that
// command runs (so `version` and `upgrade list` never load viem or the HTTP stack).
import { build } from "esbuild"
import { chmodSync, rmSync } from "node:fs"

rmSync("dist", { recursive: true, force: true })
const result = await build({
  entryPoints: { bin: "src/bin.ts" },
  outdir: "dist",
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
    js: "#!/usr/bin/env node\nimport { createRequire as __wvCreateRequire } from 'node:module'; const require = __wvCreateRequire(import.meta.url);"
  }
})
chmodSync("dist/bin.js", 0o755)
if (process.env.BUILD_REPORT) {
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (file.endsWith(".js")) console.log(`${(out.bytes / 1024).toFixed(0).padStart(6)} KiB  ${file}`)
  }
}
