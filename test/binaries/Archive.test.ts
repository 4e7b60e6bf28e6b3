import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { extractArchive } from "../../src/binaries/Archive.js"
import { cleanup, tempDir } from "../support/fixtures.js"
import { makeTarGz, makeZip, type TestEntry } from "./support.js"

const work = Effect.acquireRelease(Effect.sync(() => tempDir()), (dir) => Effect.sync(() => cleanup(dir)))

/** Enough entries that an extraction is still writing when it is interrupted. */
const manyFiles: ReadonlyArray<TestEntry> = Array.from({ length: 1500 }, (_, i) => ({
  name: `bin/part-${String(i).padStart(4, "0")}`,
  content: Buffer.alloc(16 * 1024, i % 251)
}))

const count = (dir: string): number => (fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).length : 0)

describe("extractArchive: interruption", () => {
  for (const [kind, make] of [["tar.gz", makeTarGz], ["zip", makeZip]] as const) {
    it.scopedLive(`${kind}: once interrupted, nothing more is written, even after the staging folder is removed`, () =>
      Effect.gen(function*() {
        const root = yield* work
        const archive = path.join(root, `a.${kind}`)
        fs.writeFileSync(archive, make(manyFiles))
        const staging = path.join(root, "staging")
        fs.mkdirSync(staging)
        const extraction = yield* Effect.forkScoped(extractArchive(kind, archive, staging, archive))
        while (count(staging) < 10) yield* Effect.sleep("2 millis")
        yield* Fiber.interrupt(extraction)
        const atInterrupt = count(staging)
        // yauzl is read entry by entry and stops at once; node-tar finishes the entries it has queued, skips the rest.
        if (kind === "zip") expect(atInterrupt).toBeLessThan(manyFiles.length)
        yield* Effect.sleep("300 millis")
        expect(count(staging)).toBe(atInterrupt)
        // What the download does next: remove the staging folder. Nothing may bring it back.
        fs.rmSync(staging, { recursive: true, force: true })
        yield* Effect.sleep("300 millis")
        expect(fs.existsSync(staging)).toBe(false)
      }))
  }

  it.scopedLive("an extraction left alone still writes every entry", () =>
    Effect.gen(function*() {
      const root = yield* work
      const archive = path.join(root, "a.tar.gz")
      fs.writeFileSync(archive, makeTarGz(manyFiles.slice(0, 50)))
      const staging = path.join(root, "staging")
      fs.mkdirSync(staging)
      yield* extractArchive("tar.gz", archive, staging, archive)
      expect(fs.readdirSync(path.join(staging, "bin"))).toHaveLength(50)
    }))
})
