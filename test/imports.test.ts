import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
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
})
