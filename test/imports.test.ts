import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot } from "./support/fixtures.js"

/*
 * src/ imports Effect's packages module by module (`effect/Effect`), never
 * through a package index (`import { Effect } from "effect"`): esbuild keeps
 * a namespace re-exported by an index whole, which nearly doubled the code
 * every CLI command loads (scripts/build.mjs, scripts/bench-cold.mjs).
 */
const INDEXES = /from\s+"(effect|@effect\/(platform|platform-node|cli|rpc))"/

const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name)
    return e.isDirectory() ? sources(file) : e.name.endsWith(".ts") ? [file] : []
  })

describe("imports", () => {
  it("src/ imports no Effect package through its index", () => {
    const offenders = sources(path.join(repoRoot, "src")).flatMap((file) =>
      fs
        .readFileSync(file, "utf8")
        .split("\n")
        .flatMap((line, i) => (INDEXES.test(line) ? [`${path.relative(repoRoot, file)}:${i + 1}: ${line.trim()}`] : []))
    )
    expect(offenders).toEqual([])
  })

  // prom-client is for `run` only: `version`, `upgrade list` and the other commands never load it.
  it("the metrics library is imported by src/metrics/MetricsLive.ts only, and that only by the composition root", () => {
    const importers = (pattern: RegExp) =>
      sources(path.join(repoRoot, "src"))
        .filter((file) => pattern.test(fs.readFileSync(file, "utf8")))
        .map((file) => path.relative(repoRoot, file))
    expect(importers(/from\s+"prom-client"/)).toEqual(["src/metrics/MetricsLive.ts"])
    expect(importers(/from\s+"[./]+metrics\/MetricsLive\.js"/)).toEqual(["src/main.ts"])
  })

  it("in the build, only the `run` chunk reaches the metrics code (npm test builds first)", () => {
    const dist = path.join(repoRoot, "dist")
    const read = (file: string) => fs.readFileSync(path.join(dist, file), "utf8")
    /** The chunks `file` loads with static imports, itself included. */
    const closure = (file: string, seen = new Set<string>()): Set<string> => {
      if (seen.has(file)) return seen
      seen.add(file)
      for (const m of read(file).matchAll(/(?:from|import)\s*"(\.\.?\/[^"]+\.js)"/g)) {
        closure(path.relative(dist, path.resolve(path.dirname(path.join(dist, file)), m[1]!)), seen)
      }
      return seen
    }
    // Every chunk loaded lazily (import("…")), from whichever chunk.
    const files = [
      "bin.js",
      ...fs.readdirSync(path.join(dist, "chunks")).filter((f) => f.endsWith(".js")).map((f) => `chunks/${f}`)
    ]
    const lazy = new Set(
      files.flatMap((f) =>
        [...read(f).matchAll(/import\("(\.\.?\/[^"]+\.js)"\)/g)].map((m) =>
          path.relative(dist, path.resolve(path.dirname(path.join(dist, f)), m[1]!))
        )
      )
    )
    // The composition root of `run` (main.ts), loaded by the runner.
    const run = [...lazy].filter((f) => /^chunks\/main-\w+\.js$/.test(f))
    expect(run).toHaveLength(1)
    // prom-client's default metric names, and ours.
    const withMetrics = (chunks: Set<string>) =>
      [...chunks].filter((f) => /process_resident_memory_bytes|wemixvisor_chain_head_age_seconds/.test(read(f)))
    expect(withMetrics(closure("bin.js"))).toEqual([])
    for (const f of lazy) if (f !== run[0]) expect(withMetrics(closure(f)), f).toEqual([])
    expect(withMetrics(closure(run[0]!)).length).toBeGreaterThan(0)
  })
})
