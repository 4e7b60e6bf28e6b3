/*
 * The pipes the node writes its output into (src/node/Pipes.ts): real pipes,
 * nothing left in the temp folder, and what a killed wemixvisor left there
 * swept away.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { closePipe, openPipes } from "../../src/node/Pipes.js"

const ours = () => fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith(`wemixvisor-pipe-${process.pid}-`))

describe("openPipes", () => {
  it.live("makes real pipes (FIFOs, unlinked) and leaves no folder behind", () =>
    Effect.gen(function* () {
      const pipes = yield* openPipes(2)
      expect(pipes).toHaveLength(2)
      try {
        for (const p of pipes!) {
          expect(fs.fstatSync(p.read).isFIFO()).toBe(true)
          fs.writeSync(p.write, "through the pipe\n")
          const buf = Buffer.alloc(64)
          const n = fs.readSync(p.read, buf)
          expect(buf.subarray(0, n).toString()).toBe("through the pipe\n")
        }
        expect(ours()).toEqual([])
      } finally {
        pipes?.forEach(closePipe)
      }
    })
  )

  it.live("removes the folder a killed wemixvisor left (its pid is gone), and only that one", () =>
    Effect.gen(function* () {
      const dead = Number(spawnSync("/bin/sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim())
      const stale = fs.mkdtempSync(path.join(os.tmpdir(), `wemixvisor-pipe-${dead}-`))
      fs.writeFileSync(path.join(stale, "0"), "")
      // A live process's folder (pid 1's) is not touched.
      const live = fs.mkdtempSync(path.join(os.tmpdir(), `wemixvisor-pipe-1-`))
      try {
        const pipes = yield* openPipes(2)
        pipes?.forEach(closePipe)
        expect(fs.existsSync(stale)).toBe(false)
        expect(fs.existsSync(live)).toBe(true)
      } finally {
        fs.rmSync(stale, { recursive: true, force: true })
        fs.rmSync(live, { recursive: true, force: true })
      }
    })
  )
})
