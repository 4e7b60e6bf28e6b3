import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Layer, Option, Schema, TestClock } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { FileCorrupt, PlanLocked } from "../../src/domain/Errors.js"
import { makeHeight } from "../../src/domain/Height.js"
import { schedule, setStatus } from "../../src/domain/Plan.js"
import { UpgradeName, UpgradePlan } from "../../src/domain/Upgrade.js"
import { PlanStore } from "../../src/upgrades/PlanStore.js"
import { layer as planStoreLayer } from "../../src/upgrades/PlanStoreLive.js"
import { isAlive } from "../support/fixtures.js"
import { configLayer, eventually, readJson, tempHome } from "./support.js"

const NOW = "2026-01-01T00:00:00.000Z"

/** A fresh PlanStore instance over `home` (its own in-process queue). */
const storeAt = (home: string) => Effect.provide(PlanStore, planStoreLayer.pipe(Layer.provide(configLayer(home))))

const add = (name: string, height: number) => (plan: UpgradePlan) =>
  Either.match(
    schedule(plan, { name: Schema.decodeSync(UpgradeName)(name), height: makeHeight(height) }, {
      head: undefined,
      force: false,
      now: NOW
    }),
    { onLeft: Effect.fail, onRight: (r) => Effect.succeed([r.upgrade, r.plan] as const) }
  )

const planFile = (home: string) => path.join(home, "wemixvisor", "upgrade-plan.json")
const lockFile = (home: string) => path.join(home, "wemixvisor", "upgrade-plan.lock")
const names = (plan: UpgradePlan) => plan.upgrades.map((u) => u.name)

const validUpgrade = {
  name: "v2",
  height: 1500000,
  status: "scheduled",
  info: "",
  binaries: {},
  checksums: {},
  reason: null,
  created_at: NOW,
  updated_at: NOW
}

describe("PlanStore", () => {
  it.scoped("absent file reads as the empty plan and a no-op update writes nothing", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const store = yield* storeAt(home)
      expect(yield* store.read).toEqual(UpgradePlan.empty)
      expect(yield* store.update((plan) => Effect.succeed(["same", plan] as const))).toBe("same")
      expect(fs.existsSync(planFile(home))).toBe(false)
      expect(fs.existsSync(lockFile(home))).toBe(false)
    }))

  it.scoped("round trip: snake_case on disk exactly as ARCHITECTURE §3, heights as numbers", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const store = yield* storeAt(home)
      yield* store.update(add("v2", 1500000))
      yield* store.update((plan) =>
        Effect.succeed(
          [undefined, setStatus(plan, "v2", "failed", "binary missing", "2026-01-02T00:00:00.000Z").plan] as const
        )
      )
      yield* store.update(add("v3", 1600000))
      expect(readJson(planFile(home))).toEqual({
        version: 1,
        upgrades: [
          { ...validUpgrade, status: "failed", reason: "binary missing", updated_at: "2026-01-02T00:00:00.000Z" },
          { ...validUpgrade, name: "v3", height: 1600000 }
        ]
      })
      // Key order is ARCHITECTURE's, so the file reads like the documentation.
      const text = fs.readFileSync(planFile(home), "utf8")
      expect(Object.keys((readJson(planFile(home)) as { upgrades: Array<object> }).upgrades[0]!)).toEqual(
        Object.keys(validUpgrade)
      )
      expect(text).toContain("\"height\": 1500000")
      const read = yield* store.read
      expect(names(read)).toEqual(["v2", "v3"])
      expect(read.upgrades[0]!.reason).toBe("binary missing")
      // A second instance (another process, in effect) reads the same plan.
      expect(yield* (yield* storeAt(home)).read).toEqual(read)
      expect(fs.existsSync(lockFile(home))).toBe(false)
    }))

  const corrupt: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["bad JSON", "{\"version\":1,\"upgrades\":[", /not JSON/],
    [
      "wrong field type",
      JSON.stringify({ version: 1, upgrades: [{ ...validUpgrade, height: "1500000" }] }),
      /upgrades\[0\]\.height: Expected number/
    ],
    [
      "bad status",
      JSON.stringify({ version: 1, upgrades: [{ ...validUpgrade, status: "pending" }] }),
      /upgrades\[0\]\.status: expected one of "scheduled".*actual "pending"/
    ],
    [
      "missing field",
      JSON.stringify({ version: 1, upgrades: [{ ...validUpgrade, reason: undefined }] }),
      /upgrades\[0\]\.reason: is missing/
    ],
    [
      "missing checksums",
      JSON.stringify({ version: 1, upgrades: [{ ...validUpgrade, checksums: undefined }] }),
      /upgrades\[0\]\.checksums: is missing/
    ],
    [
      "bad name",
      JSON.stringify({ version: 1, upgrades: [{ ...validUpgrade, name: "../etc" }] }),
      /upgrades\[0\]\.name: an upgrade name is/
    ],
    ["unknown version", JSON.stringify({ version: 2, upgrades: [] }), /version: Expected 1, actual 2/],
    [
      "a name listed twice",
      JSON.stringify({ version: 1, upgrades: [validUpgrade, { ...validUpgrade, height: 1600000 }] }),
      /upgrades: upgrade 'v2' is listed more than once/
    ]
  ]
  for (const [kind, text, problem] of corrupt) {
    it.scoped(`corrupt file (${kind}) → FileCorrupt naming the path and field; the file is never touched`, () =>
      Effect.gen(function*() {
        const home = yield* tempHome
        fs.writeFileSync(planFile(home), text)
        const before = fs.statSync(planFile(home))
        const store = yield* storeAt(home)
        const readErr = yield* Effect.flip(store.read)
        expect(readErr).toBeInstanceOf(FileCorrupt)
        expect(readErr).toMatchObject({ path: planFile(home) })
        expect(readErr.message).toContain(planFile(home))
        expect(readErr._tag === "FileCorrupt" && readErr.problem).toMatch(problem)
        const updErr = yield* Effect.flip(store.update(add("v9", 9)))
        expect(updErr._tag).toBe("FileCorrupt")
        expect(fs.readFileSync(planFile(home), "utf8")).toBe(text)
        const after = fs.statSync(planFile(home))
        expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs])
        expect(fs.existsSync(lockFile(home))).toBe(false)
      }))
  }

  it.scopedLive("an update that changes nothing does not rewrite the file", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const store = yield* storeAt(home)
      yield* store.update(add("v2", 100))
      const before = fs.statSync(planFile(home))
      yield* Effect.sleep("20 millis")
      // A fresh but equal plan object: equality is structural, not by reference.
      yield* store.update((plan) =>
        Effect.succeed([undefined, new UpgradePlan({ version: 1, upgrades: [...plan.upgrades] })] as const)
      )
      // Same status and reason: setStatus leaves the plan as it is.
      yield* store.update((plan) =>
        Effect.succeed([undefined, setStatus(plan, "v2", "scheduled", null, "later").plan] as const)
      )
      const after = fs.statSync(planFile(home))
      expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs])
    }))

  it.scoped("a failing update writes nothing and releases the lock", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const store = yield* storeAt(home)
      yield* store.update(add("v2", 100))
      const text = fs.readFileSync(planFile(home), "utf8")
      const err = yield* Effect.flip(store.update(add("v2", 200)))
      expect(err._tag).toBe("UpgradeConflict")
      expect(fs.readFileSync(planFile(home), "utf8")).toBe(text)
      expect(fs.existsSync(lockFile(home))).toBe(false)
    }))

  it.scopedLive("an interrupted update releases the lock", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const store = yield* storeAt(home)
      const fiber = yield* Effect.fork(store.update(() => Effect.never))
      yield* eventually("the lock to be taken", Effect.sync(() => fs.existsSync(lockFile(home))))
      yield* Fiber.interrupt(fiber)
      expect(fs.existsSync(lockFile(home))).toBe(false)
      expect(fs.existsSync(planFile(home))).toBe(false)
    }))

  it.scopedLive("concurrent updates from fibers are serialized: none is lost, never two at once", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      // Two instances contend through the lock file; fibers of one instance also queue in-process.
      const stores = [yield* storeAt(home), yield* storeAt(home)]
      let inside = 0
      let most = 0
      const slowAdd = (name: string) => (plan: UpgradePlan) =>
        Effect.gen(function*() {
          inside++
          most = Math.max(most, inside)
          yield* Effect.sleep("30 millis")
          inside--
          return yield* add(name, 100 + name.length)(plan)
        })
      yield* Effect.all(
        ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"].map((n, i) => stores[i % 2]!.update(slowAdd(n))),
        { concurrency: "unbounded" }
      )
      expect(most).toBe(1)
      expect(names(yield* stores[0]!.read).sort()).toEqual(["a", "bb", "ccc", "dddd", "eeeee", "ffffff"])
      expect(fs.existsSync(lockFile(home))).toBe(false)
    }))

  it.scopedLive("an update waits for another OS process holding the lock, then sees its write", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const store = yield* storeAt(home)
      yield* store.update(add("v1", 100))
      // Another writer (think: a second CLI) that takes the lock, holds it, then rewrites the plan.
      const script = `
        const fs = require("fs")
        const [lock, plan] = process.argv.slice(1)
        const fd = fs.openSync(lock, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644)
        fs.writeSync(fd, JSON.stringify({ pid: process.pid }) + "\\n")
        fs.closeSync(fd)
        setTimeout(() => {
          const p = JSON.parse(fs.readFileSync(plan, "utf8"))
          p.upgrades.push({ ...p.upgrades[0], name: "from-child", height: 200 })
          fs.writeFileSync(plan + ".child.tmp", JSON.stringify(p))
          fs.renameSync(plan + ".child.tmp", plan)
          fs.rmSync(lock)
        }, 400)`
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, ["-e", script, lockFile(home), planFile(home)], { stdio: "inherit" })
        ),
        (c) => Effect.sync(() => c.exitCode === null && c.kill("SIGKILL"))
      )
      yield* eventually(
        "the child to hold the lock",
        // the child creates the file, then writes it: an empty read is not yet an answer
        Effect.sync(() => {
          try {
            return readJson(lockFile(home))
          } catch {
            return false
          }
        })
      )
      expect(readJson(lockFile(home))).toEqual({ pid: child.pid })
      const started = Date.now()
      yield* store.update(add("from-parent", 300))
      expect(Date.now() - started).toBeGreaterThan(150)
      expect(names(yield* store.read)).toEqual(["v1", "from-child", "from-parent"])
      expect(fs.existsSync(lockFile(home))).toBe(false)
    }))

  it.scoped("a lock held by a live process → PlanLocked after the retry bound, their lock left alone", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const store = yield* storeAt(home)
      // The test runner's parent: alive for the whole test.
      const holder = JSON.stringify({ pid: process.ppid }) + "\n"
      fs.writeFileSync(lockFile(home), holder)
      const fiber = yield* Effect.fork(store.update(add("v2", 100)))
      yield* TestClock.adjust("4 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(exit).toEqual(Exit.fail(new PlanLocked({ path: lockFile(home), pid: process.ppid })))
      expect(fs.readFileSync(lockFile(home), "utf8")).toBe(holder)
      expect(fs.existsSync(planFile(home))).toBe(false)
    }))

  it.scoped("a stale lock (its pid is dead) is taken over", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const dead = spawnSync("true").pid!
      expect(isAlive(dead)).toBe(false)
      fs.writeFileSync(lockFile(home), JSON.stringify({ pid: dead, time: NOW }) + "\n")
      const store = yield* storeAt(home)
      yield* store.update(add("v2", 100))
      expect(names(yield* store.read)).toEqual(["v2"])
      expect(fs.existsSync(lockFile(home))).toBe(false)
    }))

  it.scoped("a half-written lock (holder died before writing its pid) is stale once it is old", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      fs.writeFileSync(lockFile(home), "")
      // a fresh empty lock is a holder between its create and its write (src/platform/LockFile.ts)
      const old = new Date(Date.now() - 60_000)
      fs.utimesSync(lockFile(home), old, old)
      const store = yield* storeAt(home)
      yield* store.update(add("v2", 100))
      expect(names(yield* store.read)).toEqual(["v2"])
    }))
})
