import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot } from "./support/fixtures.js"

/*
 * The import graph of src/ points down the layers only:
 *
 *   domain ← platform ← services ← api ← cli ← the entry (main.ts, bin.ts, program.ts, Runner.ts)
 *
 * with the services ordered too — events, config, then height/node/binaries
 * (which do not import one another), upgrades, orchestrator — so that a
 * service module never reaches for one above it (the plan store for the
 * orchestrator's journal, the CLI for the composition root). Static imports,
 * `import type` and dynamic `import()` all count: each is an arrow.
 */

const SRC = path.join(repoRoot, "src")

/** Each folder's rank; a module may import its own folder, and any folder of a lower rank. */
const RANKS: Readonly<Record<string, number>> = {
  // The page (a browser program, src/dashboard/tsconfig.json): it reaches the rest over HTTP only, so it imports nothing of src/.
  dashboard: 0,
  domain: 0,
  platform: 1,
  events: 2,
  // The notification channels name event types (config/Channels.ts).
  config: 3,
  height: 4,
  node: 4,
  binaries: 4,
  upgrades: 5,
  // Follows the registry on chain and applies its events through the upgrades' Operations.
  governance: 5.5,
  orchestrator: 6,
  // Reads the orchestrator's status and every event; served by the API.
  metrics: 6.5,
  // Reads the orchestrator's status and the chain's pace; its rules serve /health.
  warnings: 6.5,
  // Follows every event; counts its deliveries in the metrics.
  notify: 6.6,
  api: 7,
  fleet: 7.5,
  cli: 8
}

/** Files at the top of src/: the entry and the composition root, except version.ts (a constant, imported by all). */
const rootRank = (file: string) => (file === "version.ts" ? 0 : 9)

/**
 * Arrows up the layers allowed for now (none). An entry that no longer
 * matches any import fails the test: delete it.
 */
const KNOWN: ReadonlyArray<string> = []

const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name)
    return e.isDirectory() ? sources(file) : e.name.endsWith(".ts") ? [file] : []
  })

/** Where a module sits: its folder under src/ (or "" at the top) and its rank. */
const placeOf = (rel: string) => {
  const parts = rel.split("/")
  if (parts.length === 1) return { folder: "", rank: rootRank(rel) }
  const folder = parts[0]!
  const rank = RANKS[folder]
  if (rank === undefined) throw new Error(`src/${folder}/ has no layer: give it a rank in test/layering.test.ts`)
  return { folder, rank }
}

const SPECIFIERS = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)"(\.[^"]+)"/g

/** Every arrow between two src/ modules: "from.ts -> to.ts", paths relative to src/. */
const arrows = (): Array<readonly [string, string]> =>
  sources(SRC).flatMap((file) => {
    const text = fs.readFileSync(file, "utf8")
    return [...text.matchAll(SPECIFIERS)].map((m) => {
      const target = path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, ".ts"))
      return [path.relative(SRC, file), path.relative(SRC, target)] as const
    })
  })

describe("layering", () => {
  it("the arrows are between existing modules of src/ (the parser sees them)", () => {
    const all = arrows()
    expect(all.length).toBeGreaterThan(100)
    expect(all.filter(([, to]) => to.startsWith("..") || !fs.existsSync(path.join(SRC, to)))).toEqual([])
  })

  it("src/ imports only down the layers, never sideways between services of one rank", () => {
    const offenders = arrows().flatMap(([from, to]) => {
      const a = placeOf(from)
      const b = placeOf(to)
      const ok = a.folder === b.folder || b.rank < a.rank
      return ok ? [] : [`${from} -> ${to}`]
    })
    expect(offenders.filter((o) => !KNOWN.includes(o))).toEqual([])
    // A known arrow that is gone is an exception to delete.
    expect(KNOWN.filter((k) => !offenders.includes(k))).toEqual([])
  })

  it("every command loads the composition roots and the live layers only through a dynamic import", () => {
    // What the CLI (program.ts, which bin.ts loads once its V8 flags are set) loads before any command runs:
    // its static imports, transitively (`import type` is erased).
    const statics = new Map<string, Array<string>>()
    for (const file of sources(SRC)) {
      const text = fs.readFileSync(file, "utf8")
      const targets = [...text.matchAll(/^import\s+(?!type\b)[^"]*?"(\.[^"]+)"/gm)].map((m) =>
        path.relative(SRC, path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, ".ts")))
      )
      statics.set(path.relative(SRC, file), targets)
    }
    const loaded = new Set<string>()
    const visit = (rel: string): void => {
      if (loaded.has(rel)) return
      loaded.add(rel)
      for (const to of statics.get(rel) ?? []) visit(to)
    }
    visit("program.ts")
    expect(loaded.has("cli/commands.ts")).toBe(true)
    expect([...loaded].filter((f) => f === "main.ts" || f === "cli/Local.ts" || f.endsWith("Live.ts"))).toEqual([])
  })
})
