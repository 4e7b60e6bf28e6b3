import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { processStartTime } from "../../src/platform/Proc.js"
import { History, type HistoryEntry } from "../../src/upgrades/History.js"
import { layer as historyLayer, makeHistory, type RotationOptions } from "../../src/upgrades/HistoryLive.js"
import { configLayer, tempHome } from "./support.js"

const historyAt = (home: string) => Effect.provide(History, historyLayer.pipe(Layer.provide(configLayer(home))))
const historyFile = (home: string) => path.join(home, "wemixvisor", "upgrade-history.jsonl")
const rootOf = (home: string) => path.join(home, "wemixvisor")

/** The files of the trail in the folder, sorted (the lock and temp files included: none should be left). */
const trailFiles = (home: string) => fs.readdirSync(rootOf(home)).filter((f) => f.includes("upgrade-history")).sort()

const gunzipLines = (file: string) =>
  zlib.gunzipSync(fs.readFileSync(file)).toString("utf8").trimEnd().split("\n").map((l) => JSON.parse(l))

/** Entry `i` of a numbered series: a fixed time, so every line has the same length. */
const nth = (i: number): HistoryEntry => ({
  name: "v2",
  step: "verify",
  result: "ok",
  detail: `line ${String(i).padStart(3, "0")}`,
  time: "2026-03-01T10:00:00.000Z"
})
const lineBytes = Buffer.byteLength(
  JSON.stringify({ time: "2026-03-01T10:00:00.000Z", name: "v2", step: "verify", result: "ok", detail: "line 000" }) +
    "\n"
)

/** A history rotated at `lines` lines per file. */
const rotating = (home: string, lines: number, keep: number) => {
  const options: RotationOptions = { maxSize: lines * lineBytes, keep }
  return makeHistory(historyFile(home), options)
}

const details = (records: ReadonlyArray<{ readonly detail?: string | undefined }>) => records.map((r) => r.detail)
const series = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, k) => `line ${String(from + k).padStart(3, "0")}`)

/** Warnings logged while `self` runs. */
const warnings = <A, E, R>(self: Effect.Effect<A, E, R>) => {
  const lines: Array<string> = []
  const capture = Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning") lines.push(String(Array.isArray(message) ? message.join(" ") : message))
  })
  return self.pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
    Effect.map((a) => [a, lines] as const)
  )
}

describe("History", () => {
  it.scoped("append/read round trip: one JSON line per record, snake_case, time from the clock", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = yield* historyAt(home)
      expect(yield* history.read).toEqual([])
      yield* TestClock.setTime(Date.parse("2026-03-01T10:00:00.000Z"))
      yield* history.append({ name: "v2", step: "stop", result: "started" })
      yield* TestClock.adjust("1500 millis")
      yield* history.append({ name: "v2", step: "stop", result: "ok", detail: "exited with code 0" })
      yield* history.append({
        name: "v2",
        step: "verify",
        result: "failed",
        detail: "exited with code 1",
        time: "2026-03-01T10:05:00.000Z"
      })

      const lines = fs.readFileSync(historyFile(home), "utf8").split("\n")
      expect(lines.at(-1)).toBe("")
      expect(lines.slice(0, -1).map((l) => JSON.parse(l))).toEqual([
        { time: "2026-03-01T10:00:00.000Z", name: "v2", step: "stop", result: "started" },
        { time: "2026-03-01T10:00:01.500Z", name: "v2", step: "stop", result: "ok", detail: "exited with code 0" },
        { time: "2026-03-01T10:05:00.000Z", name: "v2", step: "verify", result: "failed", detail: "exited with code 1" }
      ])
      const records = yield* history.read
      expect(records.map((r) => `${r.step}:${r.result}`)).toEqual(["stop:started", "stop:ok", "verify:failed"])
      // Another reader (status, a fresh process) sees the same trail.
      expect(yield* (yield* historyAt(home)).read).toEqual(records)
      // No lock or temp file is left behind.
      expect(trailFiles(home)).toEqual(["upgrade-history.jsonl"])
    }))

  it.scoped("a torn line (crash mid-append) costs that record only", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = yield* historyAt(home)
      yield* history.append({ name: "v2", step: "switch", result: "started" })
      fs.appendFileSync(historyFile(home), "{\"time\":\"2026-03-01T10:00:00.000Z\",\"name\":\"v2\",\"st")
      yield* history.append({ name: "v2", step: "switch", result: "ok" })
      const lines = fs.readFileSync(historyFile(home), "utf8").trimEnd().split("\n")
      expect(lines).toHaveLength(3)
      expect(JSON.parse(lines[2]!)).toMatchObject({ step: "switch", result: "ok" })
      expect((yield* history.read).map((r) => r.result)).toEqual(["started", "ok"])
    }))

  it.scoped("door and peer are written when given; lines without them (older files) still read", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      fs.writeFileSync(
        historyFile(home),
        "{\"time\":\"2025-12-01T00:00:00.000Z\",\"name\":\"v1\",\"step\":\"done\",\"result\":\"ok\"}\n"
      )
      const history = yield* historyAt(home)
      yield* history.append({
        name: "v2",
        step: "schedule",
        result: "ok",
        detail: "height 100",
        door: "rest",
        peer: "127.0.0.1:50123",
        time: "2026-03-01T10:00:00.000Z"
      })
      yield* history.append({
        name: "v2",
        step: "cancel",
        result: "ok",
        door: "drop-in",
        time: "2026-03-01T10:01:00.000Z"
      })
      expect(fs.readFileSync(historyFile(home), "utf8").trimEnd().split("\n").slice(1)).toEqual([
        "{\"time\":\"2026-03-01T10:00:00.000Z\",\"name\":\"v2\",\"step\":\"schedule\",\"result\":\"ok\",\"detail\":\"height 100\",\"door\":\"rest\",\"peer\":\"127.0.0.1:50123\"}",
        "{\"time\":\"2026-03-01T10:01:00.000Z\",\"name\":\"v2\",\"step\":\"cancel\",\"result\":\"ok\",\"door\":\"drop-in\"}"
      ])
      expect(yield* history.read).toEqual([
        { time: "2025-12-01T00:00:00.000Z", name: "v1", step: "done", result: "ok" },
        {
          time: "2026-03-01T10:00:00.000Z",
          name: "v2",
          step: "schedule",
          result: "ok",
          detail: "height 100",
          door: "rest",
          peer: "127.0.0.1:50123"
        },
        { time: "2026-03-01T10:01:00.000Z", name: "v2", step: "cancel", result: "ok", door: "drop-in" }
      ])
    }))
})

describe("History rotation", () => {
  it.scoped("at the size bound the live file goes to .1.jsonl.gz; the live file never passes the bound", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = rotating(home, 4, 5)
      for (let i = 1; i <= 4; i++) yield* history.append(nth(i))
      // Exactly at the bound: not rotated yet.
      expect(trailFiles(home)).toEqual(["upgrade-history.jsonl"])
      yield* history.append(nth(5))
      expect(trailFiles(home)).toEqual(["upgrade-history.1.jsonl.gz", "upgrade-history.jsonl"])
      expect(details(gunzipLines(path.join(rootOf(home), "upgrade-history.1.jsonl.gz")))).toEqual(series(1, 4))
      expect(fs.readFileSync(historyFile(home), "utf8").trimEnd().split("\n")).toHaveLength(1)
      for (let i = 6; i <= 10; i++) yield* history.append(nth(i))
      expect(fs.statSync(historyFile(home)).size).toBeLessThanOrEqual(4 * lineBytes)
      expect(trailFiles(home)).toEqual([
        "upgrade-history.1.jsonl.gz",
        "upgrade-history.2.jsonl.gz",
        "upgrade-history.jsonl"
      ])
      // Read across the rotated files, oldest first, then the live one.
      expect(details(yield* history.read)).toEqual(series(1, 10))
    }))

  it.scoped("WEMIXVISOR_HISTORY_KEEP files are kept: the oldest go", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = rotating(home, 2, 2)
      for (let i = 1; i <= 9; i++) yield* history.append(nth(i))
      // 1-2, 3-4, 5-6 and 7-8 were rotated; the two newest kept.
      expect(trailFiles(home)).toEqual([
        "upgrade-history.1.jsonl.gz",
        "upgrade-history.2.jsonl.gz",
        "upgrade-history.jsonl"
      ])
      expect(details(yield* history.read)).toEqual(series(5, 9))
      // A lower keep count on a later start deletes the extra files at the next rotation.
      const fewer = rotating(home, 2, 1)
      yield* fewer.append(nth(10))
      yield* fewer.append(nth(11))
      expect(trailFiles(home)).toEqual(["upgrade-history.1.jsonl.gz", "upgrade-history.jsonl"])
      expect(details(yield* fewer.read)).toEqual(series(9, 11))
    }))

  it.scoped("keep 0: the rotated lines are dropped; max size 0: never rotated", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const none = rotating(home, 2, 0)
      for (let i = 1; i <= 5; i++) yield* none.append(nth(i))
      expect(trailFiles(home)).toEqual(["upgrade-history.jsonl"])
      expect(details(yield* none.read)).toEqual(series(5, 5))
      const unbounded = makeHistory(historyFile(home), { maxSize: 0, keep: 5 })
      for (let i = 6; i <= 20; i++) yield* unbounded.append(nth(i))
      expect(trailFiles(home)).toEqual(["upgrade-history.jsonl"])
      expect(details(yield* unbounded.read)).toEqual(series(5, 20))
    }))

  it.scoped("a torn last line in a rotated file and in the live file costs those records only", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = rotating(home, 3, 5)
      yield* history.append(nth(1))
      yield* history.append(nth(2))
      fs.appendFileSync(historyFile(home), "{\"time\":\"2026-03-01T10:00:00.000Z\",\"na")
      yield* history.append(nth(3))
      yield* history.append(nth(4))
      fs.appendFileSync(historyFile(home), "{\"time\":")
      const [records, warned] = yield* warnings(history.read)
      expect(details(records)).toEqual(series(1, 4))
      expect(warned).toHaveLength(2)
      expect(warned[0]).toMatch(/upgrade-history\.1\.jsonl\.gz line 3 skipped/)
      expect(warned[1]).toMatch(/upgrade-history\.jsonl line 3 skipped/)
    }))

  it.scoped("a rotated file that cannot be decompressed is skipped with a warning; the rest reads", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = rotating(home, 2, 5)
      for (let i = 1; i <= 5; i++) yield* history.append(nth(i))
      fs.writeFileSync(path.join(rootOf(home), "upgrade-history.2.jsonl.gz"), "not gzip")
      const [records, warned] = yield* warnings(history.read)
      expect(details(records)).toEqual(series(3, 5))
      expect(warned).toEqual([expect.stringMatching(/upgrade-history\.2\.jsonl\.gz skipped/)])
    }))

  it.scoped("a crash after the live file was renamed away: its lines read in place, the next append finishes the rotation", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = rotating(home, 2, 5)
      for (let i = 1; i <= 3; i++) yield* history.append(nth(i))
      // Lines 1-2 are in .1.gz, 3 is live. A rotation crashed right after its rename, leaving its temp file.
      fs.renameSync(historyFile(home), path.join(rootOf(home), "upgrade-history.0.jsonl"))
      fs.writeFileSync(path.join(rootOf(home), ".upgrade-history.1.jsonl.gz.99999.tmp"), "half")
      expect(details(yield* history.read)).toEqual(series(1, 3))
      yield* history.append(nth(4))
      expect(trailFiles(home)).toEqual([
        "upgrade-history.1.jsonl.gz",
        "upgrade-history.2.jsonl.gz",
        "upgrade-history.jsonl"
      ])
      expect(fs.readdirSync(rootOf(home)).filter((f) => f.endsWith(".tmp"))).toEqual([])
      expect(details(yield* history.read)).toEqual(series(1, 4))
    }))

  it.scoped("a crash after the compressed copy was put in place: read once, not duplicated by the next append", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = rotating(home, 2, 5)
      for (let i = 1; i <= 3; i++) yield* history.append(nth(i))
      // Lines 3 (and 1-2) as a rotation of the live file leaves them when it dies before removing .0.
      const pending = path.join(rootOf(home), "upgrade-history.0.jsonl")
      fs.renameSync(historyFile(home), pending)
      fs.renameSync(
        path.join(rootOf(home), "upgrade-history.1.jsonl.gz"),
        path.join(rootOf(home), "upgrade-history.2.jsonl.gz")
      )
      fs.writeFileSync(path.join(rootOf(home), "upgrade-history.1.jsonl.gz"), zlib.gzipSync(fs.readFileSync(pending)))
      expect(details(yield* history.read)).toEqual(series(1, 3))
      yield* history.append(nth(4))
      expect(trailFiles(home)).toEqual([
        "upgrade-history.1.jsonl.gz",
        "upgrade-history.2.jsonl.gz",
        "upgrade-history.jsonl"
      ])
      expect(details(yield* history.read)).toEqual(series(1, 4))
    }))
})

describe("History lock (the CLI and the supervisor both append)", () => {
  const lockFile = (home: string) => path.join(rootOf(home), "upgrade-history.lock")

  it.scoped("a lock held by a live process is waited for; past the wait the line is appended anyway, not rotated", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = rotating(home, 1, 5)
      yield* history.append(nth(1))
      // Held by a live process (this one's pid and start time: another History instance, say).
      const held = JSON.stringify({ pid: process.pid, start_time: processStartTime(process.pid) })
      fs.writeFileSync(lockFile(home), held)
      const fiber = yield* Effect.fork(warnings(history.append(nth(2))))
      yield* TestClock.adjust("2 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      // Still waiting: nothing appended yet.
      expect(fs.readFileSync(historyFile(home), "utf8").trimEnd().split("\n")).toHaveLength(1)
      yield* TestClock.adjust("10 seconds")
      const [, warned] = yield* Fiber.join(fiber)
      expect(warned).toEqual([expect.stringMatching(/upgrade-history\.lock is held by pid \d+; appending without it/)])
      // Appended, not rotated (that needs the lock), and their lock left alone.
      expect(trailFiles(home)).toEqual(["upgrade-history.jsonl", "upgrade-history.lock"])
      expect(fs.readFileSync(lockFile(home), "utf8")).toBe(held)
      fs.rmSync(lockFile(home))
      expect(details(yield* history.read)).toEqual(series(1, 2))
    }))

  it.scoped("a lock left by a dead process is taken over at once", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = rotating(home, 1, 5)
      yield* history.append(nth(1))
      fs.writeFileSync(lockFile(home), JSON.stringify({ pid: 2 ** 22 + 12345, start_time: "1" }))
      yield* history.append(nth(2))
      expect(trailFiles(home)).toEqual(["upgrade-history.1.jsonl.gz", "upgrade-history.jsonl"])
      expect(details(yield* history.read)).toEqual(series(1, 2))
    }))

  it.scopedLive("two appenders rotating the same file lose no line and duplicate none", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      // Two instances: each its own in-process queue, the lock file between them as between two processes.
      const a = rotating(home, 5, 1000)
      const b = rotating(home, 5, 1000)
      const run = (h: typeof a, from: number) =>
        Effect.forEach(Array.from({ length: 40 }, (_, k) => from + k), (i) => h.append(nth(i)), { discard: true })
      yield* Effect.all([run(a, 0), run(b, 100)], { concurrency: 2 })
      const seen = details(yield* a.read).slice().sort()
      expect(seen).toEqual([...series(0, 39), ...series(100, 139)].sort())
      expect(fs.readdirSync(rootOf(home)).filter((f) => f.endsWith(".lock") || f.endsWith(".tmp"))).toEqual([])
    }))
})
