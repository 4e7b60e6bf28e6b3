import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { readJsonIfExists, writeJsonAtomic } from "../../src/platform/Files.js"
import { acquireLock, lockHolder, tryLock, UNKNOWN_HOLDER, unlock } from "../../src/platform/LockFile.js"
import { groupMembers, processStartTime } from "../../src/platform/Proc.js"
import { cleanup, tempDir } from "../support/fixtures.js"

describe("files", () => {
  it("writes atomically and reads back validated", () => {
    const dir = tempDir()
    try {
      const file = path.join(dir, "x.json")
      const S = Schema.Struct({ a: Schema.Number })
      expect(Option.isNone(Effect.runSync(readJsonIfExists(S, file)))).toBe(true)
      Effect.runSync(writeJsonAtomic(file, { a: 1 }))
      expect(Effect.runSync(readJsonIfExists(S, file))).toEqual(Option.some({ a: 1 }))
      expect(fs.readdirSync(dir)).toEqual(["x.json"])
    } finally {
      cleanup(dir)
    }
  })
  it("reports a corrupt file with its path and leaves it alone", () => {
    const dir = tempDir()
    try {
      const file = path.join(dir, "x.json")
      const S = Schema.Struct({ a: Schema.Number })
      fs.writeFileSync(file, "{\"a\": \"one\"}")
      const e = Effect.runSync(Effect.flip(readJsonIfExists(S, file)))
      expect(e._tag).toBe("FileCorrupt")
      expect(e.message).toContain(file)
      fs.writeFileSync(file, "{not json")
      expect(Effect.runSync(Effect.flip(readJsonIfExists(S, file))).message).toContain("not JSON")
      expect(fs.readFileSync(file, "utf8")).toBe("{not json")
    } finally {
      cleanup(dir)
    }
  })
})

describe("lock files", () => {
  it("one holder at a time; released on scope close", () => {
    const dir = tempDir()
    try {
      const file = path.join(dir, "run.lock")
      Effect.runSync(
        Effect.scoped(
          Effect.gen(function*() {
            yield* acquireLock(file, (pid) => `held by ${pid}`)
            expect(lockHolder(file)).toBe(process.pid)
            // same process, second attempt: the file names a live pid → held
            expect(yield* tryLock(file)).toEqual({ _tag: "Held", pid: process.pid })
          })
        )
      )
      expect(fs.existsSync(file)).toBe(false)
    } finally {
      cleanup(dir)
    }
  })

  it("takes over a stale lock of a dead pid, a reused pid and an abandoned half-written file", () => {
    const dir = tempDir()
    try {
      const file = path.join(dir, "run.lock")
      const dead = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" })
      fs.writeFileSync(file, JSON.stringify({ pid: Number(dead.stdout.trim()) }))
      expect(Effect.runSync(tryLock(file))._tag).toBe("Acquired")
      Effect.runSync(unlock(file))
      // a live pid whose start time differs: the pid was reused by another process
      fs.writeFileSync(file, JSON.stringify({ pid: process.pid, start_time: "1" }))
      expect(Effect.runSync(tryLock(file))._tag).toBe("Acquired")
      Effect.runSync(unlock(file))
      // an unreadable lock is someone mid-write while fresh, abandoned once old
      fs.writeFileSync(file, "")
      expect(Effect.runSync(tryLock(file))).toEqual({ _tag: "Held", pid: UNKNOWN_HOLDER })
      const old = new Date(Date.now() - 60_000)
      fs.utimesSync(file, old, old)
      expect(Effect.runSync(tryLock(file))._tag).toBe("Acquired")
    } finally {
      cleanup(dir)
    }
  })

  it("unlock removes only our own lock", () => {
    const dir = tempDir()
    try {
      const file = path.join(dir, "run.lock")
      Effect.runSync(unlock(file)) // absent: nothing to do
      fs.writeFileSync(file, JSON.stringify({ pid: process.ppid }))
      Effect.runSync(unlock(file))
      expect(fs.existsSync(file)).toBe(true)
      expect(lockHolder(path.join(dir, "absent.lock"))).toBeUndefined()
    } finally {
      cleanup(dir)
    }
  })

  it("refuses while another live process holds it", async () => {
    const dir = tempDir()
    const child = spawn("sleep", ["30"], { stdio: "ignore" })
    try {
      const file = path.join(dir, "run.lock")
      const pid = child.pid!
      fs.writeFileSync(file, JSON.stringify({ pid, start_time: processStartTime(pid) }))
      expect(Effect.runSync(tryLock(file))).toEqual({ _tag: "Held", pid })
      expect(fs.existsSync(file)).toBe(true)
    } finally {
      child.kill("SIGKILL")
      cleanup(dir)
    }
  })
})

describe("/proc", () => {
  it("reads start times and process-group members", async () => {
    const child = spawn("sh", ["-c", "sleep 30 & sleep 30"], { detached: true, stdio: "ignore" })
    try {
      await new Promise((r) => setTimeout(r, 100))
      expect(processStartTime(child.pid!)).toMatch(/^\d+$/)
      expect(groupMembers(child.pid!).length).toBeGreaterThanOrEqual(2)
    } finally {
      process.kill(-child.pid!, "SIGKILL")
    }
    await new Promise((r) => setTimeout(r, 100))
    expect(groupMembers(child.pid!)).toEqual([])
  })
})
