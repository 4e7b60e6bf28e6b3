/*
 * Issue #5 inside the orchestrator: preparation ahead of the height (a fake
 * installer), data backups (the real Backups over the world's data dir, with
 * an injected free-space figure), and hooks (real scripts, real Hooks). The
 * clock is the TestClock; hooks and copies are real I/O, so waits are
 * patient in real time too.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Option, Ref, SubscriptionRef, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ChecksumMismatch, DownloadFailed, DownloadRefused } from "../../src/binaries/Errors.js"
import type { Target } from "../../src/domain/Target.js"
import { writeScript } from "../support/fixtures.js"
import {
  alive,
  eventTypes,
  journal,
  journalText,
  log,
  makeWorld,
  name,
  pushHeight,
  realPause,
  type Run,
  scheduleUpgrade,
  setHead,
  settle,
  startRun,
  startRunning,
  statusOf,
  upgradeOf,
  waitUntil,
  type World,
  writeJournal
} from "./fakes.js"

const history = (w: World, n = "v2") =>
  Ref.get(w.history).pipe(Effect.map((hs) => hs.filter((r) => r.name === n).map((r) => `${r.step}:${r.result}`)))
const detailOf = (w: World, step: string, result: string) =>
  Ref.get(w.history).pipe(Effect.map((hs) => hs.find((r) => r.step === step && r.result === result)?.detail))

/** Advances the clock a second at a time (with real pauses for processes and I/O) until `check` holds. */
const advanceUntil = (what: string, check: Effect.Effect<boolean>, maxSeconds = 60) =>
  Effect.gen(function*() {
    for (let i = 0; i < maxSeconds; i++) {
      for (let j = 0; j < 10; j++) {
        yield* settle
        if (yield* check) return
        yield* realPause
      }
      yield* TestClock.adjust("1 second")
    }
    if (!(yield* check)) return yield* Effect.dieMessage(`never happened within ${maxSeconds}s: ${what}`)
  })

const ended = (w: World, n = "v2") => statusOf(w, n).pipe(Effect.map((s) => s === "done" || s === "failed"))

const DATA_FILE = "chaindata/000001.ldb"
const dataText = (w: World) => fs.readFileSync(path.join(w.dataDir, DATA_FILE), "utf8")
const backupsOnDisk = (w: World) =>
  fs.existsSync(w.config.layout.backups) ? fs.readdirSync(w.config.layout.backups).sort() : []

/** A hook script under the world's folder; every run appends "<name> <height>" to hooks/<file>.runs. */
const hookScript = (dir: string, file: string, body: string) =>
  writeScript(path.join(dir, "hooks", file), `#!/bin/sh\necho "$1 $2" >> "${dir}/hooks/${file}.runs"\n${body}\n`)
const hookRuns = (w: World, file: string) => {
  const f = path.join(w.dir, "hooks", `${file}.runs`)
  return fs.existsSync(f) ? fs.readFileSync(f, "utf8").trim().split("\n") : []
}

/** Fires v2 at 100 and waits for the upgrade to end. */
const fireAndEnd = (w: World, n = "v2", height = 100) =>
  Effect.gen(function*() {
    yield* pushHeight(w, height)
    yield* advanceUntil(`${n} ended`, ended(w, n))
  })

describe("preparation ahead of the height", () => {
  it.scoped("a downloadable upgrade goes scheduled → preparing → ready right away, long before its height", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      const gate = yield* Deferred.make<void>()
      yield* Ref.set(w.prepareGate, Option.some(gate))
      yield* scheduleUpgrade(w, "v2", 100, { binary: false, url: "https://example.org/gwemix-v2" })
      yield* startRunning(w)
      yield* waitUntil("preparing", statusOf(w, "v2").pipe(Effect.map((s) => s === "preparing")))
      expect(yield* eventTypes(w)).toEqual(["upgrade-preparing"])

      yield* Deferred.succeed(gate, undefined)
      yield* waitUntil("ready", statusOf(w, "v2").pipe(Effect.map((s) => s === "ready")))
      expect((yield* upgradeOf(w, "v2"))?.reason).toBeNull()
      expect(yield* eventTypes(w)).toEqual(["upgrade-preparing", "upgrade-ready"])
      expect(yield* Ref.get(w.prepares)).toEqual(["v2"])
      // Prepared once: later checks do not prepare it again.
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(yield* Ref.get(w.prepares)).toEqual(["v2"])
      expect(yield* log(w)).toEqual(["start:genesis"])

      yield* fireAndEnd(w)
      expect(yield* statusOf(w, "v2")).toBe("done")
      expect(yield* Ref.get(w.current)).toBe("v2")
      // Its version was probed while it was prepared: the status has it as soon as it runs.
    }))

  it.scoped("a failed preparation keeps the upgrade scheduled with the reason and announces it at once", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      const mismatch = new ChecksumMismatch({
        url: "https://example.org/gwemix-v2",
        algorithm: "sha256",
        expected: "ab".repeat(32),
        actual: "cd".repeat(32)
      })
      yield* Ref.set(w.prepareFails, new Map([["v2", mismatch]]))
      yield* scheduleUpgrade(w, "v2", 100, { binary: false, url: "https://example.org/gwemix-v2" })
      yield* startRunning(w)
      yield* waitUntil("reason recorded", upgradeOf(w, "v2").pipe(Effect.map((u) => u?.reason === mismatch.message)))
      expect(yield* statusOf(w, "v2")).toBe("scheduled")
      expect((yield* Ref.get(w.events)).filter((e) => e.type === "upgrade-problem")).toEqual([
        { type: "upgrade-problem", name: "v2", reason: mismatch.message }
      ])
      // Not retried on every poll: the same artifact would fail the same way.
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(yield* Ref.get(w.prepares)).toEqual(["v2"])

      // At the height: not ready, and the policy (rollback) says the node runs on; nothing was touched.
      yield* fireAndEnd(w)
      const u = yield* upgradeOf(w, "v2")
      expect(u?.status).toBe("failed")
      expect(u?.reason).toBe(`not ready at its height 100: ${mismatch.message}`)
      expect(yield* log(w)).toEqual(["start:genesis"])
      expect(yield* alive(w)).toBe("genesis")
      expect(journalText(w)).toBeUndefined()
      expect(yield* eventTypes(w)).toContain("upgrade-failed")
      expect(yield* eventTypes(w)).not.toContain("upgrade-started")
    }))

  it.scoped("a transient failure (the download) is tried once more at the height, and the upgrade goes ahead when it works", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* Ref.set(
        w.prepareFails,
        new Map([[
          "v2",
          new DownloadFailed({ url: "https://example.org/gwemix-v2", attempts: 5, problem: "HTTP 503" })
        ]])
      )
      yield* scheduleUpgrade(w, "v2", 100, { binary: false, url: "https://example.org/gwemix-v2" })
      yield* startRunning(w)
      yield* waitUntil(
        "reason recorded",
        upgradeOf(w, "v2").pipe(Effect.map((u) => u?.reason?.includes("HTTP 503") === true))
      )
      yield* Ref.set(w.prepareFails, new Map())
      yield* fireAndEnd(w)
      expect(yield* statusOf(w, "v2")).toBe("done")
      expect(yield* Ref.get(w.prepares)).toEqual(["v2", "v2"])
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2", "resume"])
    }))

  it.scoped("the height reached during a download waits for it, then upgrades", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      const gate = yield* Deferred.make<void>()
      yield* Ref.set(w.prepareGate, Option.some(gate))
      yield* scheduleUpgrade(w, "v2", 100, { binary: false, url: "https://example.org/gwemix-v2" })
      yield* startRunning(w)
      yield* waitUntil("preparing", statusOf(w, "v2").pipe(Effect.map((s) => s === "preparing")))
      yield* pushHeight(w, 100)
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])
      yield* Deferred.succeed(gate, undefined)
      yield* advanceUntil("v2 ended", ended(w))
      expect(yield* statusOf(w, "v2")).toBe("done")
      expect(yield* Ref.get(w.prepares)).toEqual(["v2"])
    }))

  it.scoped("not ready at the height with DAEMON_ON_UPGRADE_FAILURE=halt: the node is stopped and stays stopped, and says why", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "halt" })
      yield* scheduleUpgrade(w, "v2", 100, { binary: false })
      const run = yield* startRunning(w)
      yield* fireAndEnd(w)
      const u = yield* upgradeOf(w, "v2")
      expect(u?.status).toBe("failed")
      expect(u?.reason).toMatch(/^not ready at its height 100: binary missing: .* does not exist$/)
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop"])
      expect(yield* alive(w)).toBeNull()
      expect(yield* Ref.get(w.current)).toBe("genesis")
      expect(yield* run.orchestrator.halted).toBe(`halted after failed upgrade v2: ${u?.reason}`)
    }))

  it.scoped("not ready with on_failure=halt under DAEMON_ON_UPGRADE_FAILURE=rollback: this upgrade halts the node", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100, { binary: false, onFailure: "halt" })
      const run = yield* startRunning(w)
      yield* fireAndEnd(w)
      const u = yield* upgradeOf(w, "v2")
      expect(u?.status).toBe("failed")
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop"])
      expect(yield* alive(w)).toBeNull()
      expect(yield* run.orchestrator.halted).toBe(`halted after failed upgrade v2: ${u?.reason}`)
    }))

  it.scoped("not ready with on_failure=rollback under DAEMON_ON_UPGRADE_FAILURE=halt: the node keeps running", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "halt" })
      yield* scheduleUpgrade(w, "v2", 100, { binary: false, onFailure: "rollback" })
      const run = yield* startRunning(w)
      yield* fireAndEnd(w)
      expect(yield* statusOf(w, "v2")).toBe("failed")
      expect(yield* alive(w)).toBe("genesis")
      expect(yield* run.orchestrator.halted).toBeNull()
    }))

  it.scoped("prepare on demand: the upgrade as ready; a refused download is bad input", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100, { binary: false, url: "https://example.org/gwemix-v2" })
      yield* scheduleUpgrade(w, "v3", 200, { binary: false, url: "https://example.org/gwemix-v3" })
      const refused = new DownloadRefused({
        url: "https://example.org/gwemix-v3",
        problem: "downloads are disabled; set DAEMON_ALLOW_DOWNLOAD_BINARIES=true"
      })
      yield* Ref.set(w.prepareFails, new Map([["v3", refused]]))
      const run = yield* startRunning(w)
      const rpc = { door: "rpc", peer: "127.0.0.1:40000" } as const
      const ready = yield* run.orchestrator.prepare("v2", rpc)
      expect(ready.status).toBe("ready")
      const failed = yield* Effect.flip(run.orchestrator.prepare("v3", rpc))
      expect(failed).toMatchObject({ _tag: "PreparationFailed", name: "v3", reason: refused.message, badInput: true })
      expect((yield* Effect.flip(run.orchestrator.prepare("nope", rpc)))._tag).toBe("UpgradeNotFound")
      yield* fireAndEnd(w)
      expect((yield* Effect.flip(run.orchestrator.prepare("v2", rpc)))._tag).toBe("UpgradeConflict")
      // Each preparation asked for is recorded once with its door and peer; the refused requests are not.
      const asked = (yield* Ref.get(w.history)).filter((r) => r.step === "prepare")
      expect(asked.map(({ time: _, ...r }) => r)).toEqual([
        { name: "v2", step: "prepare", result: "ok", detail: expect.any(String), door: "rpc", peer: rpc.peer },
        { name: "v3", step: "prepare", result: "failed", detail: refused.message, door: "rpc", peer: rpc.peer }
      ])
    }))

  it.scoped("status: the version of `current`, probed in the background, then the upgrade's from its preparation", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* run.orchestrator.status
      yield* waitUntil("version known", run.orchestrator.status.pipe(Effect.map((s) => s.version === "gwemix genesis")))
      yield* fireAndEnd(w)
      expect((yield* run.orchestrator.status).version).toBe("gwemix v2")
    }))
})

describe("backups", () => {
  it.scoped("DAEMON_BACKUP: stop → backup → switch, journaled with the backup's path; the copy holds the data", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_BACKUP: "true" })
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* pushHeight(w, 100)
      yield* waitUntil("verify journaled", Effect.sync(() => journal(w)?.step === "verify"))
      const backup = journal(w)?.backup as string
      expect(backup).toMatch(/backups\/v2-\d{8}T\d{9}Z$/)
      expect(fs.readFileSync(path.join(backup, DATA_FILE), "utf8")).toBe(dataText(w))
      yield* advanceUntil("v2 ended", ended(w))
      expect(yield* statusOf(w, "v2")).toBe("done")
      const l = yield* log(w)
      expect(l).toEqual([
        "start:genesis",
        "suspend",
        "stop",
        `backup:${path.basename(backup)}`,
        "switch:v2",
        "start:v2",
        "resume"
      ])
      expect(yield* history(w)).toEqual([
        "pre-stop:skipped",
        "stop:started",
        "stop:ok",
        "backup:started",
        "backup:ok",
        "switch:started",
        "switch:ok",
        "pre-upgrade:skipped",
        "start:started",
        "start:ok",
        "verify:started",
        "verify:ok",
        "done:started",
        "done:ok"
      ])
      expect(yield* detailOf(w, "backup", "ok")).toBe(backup)
      expect(
        (yield* Ref.get(w.events)).filter((e) => e.type === "upgrade-step").map((
          e
        ) => (e.type === "upgrade-step" ? e.step : ""))
      ).toEqual([
        "stop",
        "backup",
        "switch",
        "start",
        "verify",
        "done"
      ])
    }))

  it.scoped("not enough free space: the upgrade fails, the old binary is started again, nothing was switched or copied", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_BACKUP: "true" })
      yield* Ref.set(w.freeSpace, 10)
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* fireAndEnd(w)
      const u = yield* upgradeOf(w, "v2")
      expect(u?.status).toBe("failed")
      expect(u?.reason).toMatch(
        /^data backup failed: not enough free space in .*backups: need .*, 10 B available; nothing was copied$/
      )
      const l = yield* log(w)
      expect(l).not.toContain("switch:v2")
      expect(l.filter((x) => x.startsWith("switch:"))).toEqual([])
      expect(l).toEqual(["start:genesis", "suspend", "stop", "stop", "start:genesis", "resume"])
      expect(yield* alive(w)).toBe("genesis")
      expect(yield* Ref.get(w.current)).toBe("genesis")
      expect(backupsOnDisk(w)).toEqual([])
      expect(journalText(w)).toBeUndefined()
      expect((yield* history(w)).slice(3)).toEqual([
        "backup:started",
        "backup:failed",
        "rollback:started",
        "rollback:ok",
        "upgrade:failed"
      ])
      expect((yield* eventTypes(w)).filter((t) => t === "upgrade-failed" || t === "rollback-completed")).toEqual([
        "upgrade-failed",
        "rollback-completed"
      ])
    }))

  it.scoped("a rollback after a backup restores the data dir before the old binary starts", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_BACKUP: "true" })
      yield* scheduleUpgrade(w, "v2", 100)
      const run: Run = yield* startRunning(w)
      const before = dataText(w)
      yield* pushHeight(w, 100)
      yield* waitUntil("verify journaled", Effect.sync(() => journal(w)?.step === "verify"))
      // The new binary rewrites the data in place (same inode), then dies.
      const file = path.join(w.dataDir, DATA_FILE)
      const ino = fs.statSync(file).ino
      const fd = fs.openSync(file, "r+")
      fs.writeSync(fd, "MIGRATED BY v2", 0)
      fs.closeSync(fd)
      expect(fs.statSync(file).ino).toBe(ino)
      expect(dataText(w)).not.toBe(before)
      yield* run.crashNode(1)
      yield* advanceUntil("v2 ended", ended(w))
      expect(yield* statusOf(w, "v2")).toBe("failed")
      expect(dataText(w)).toBe(before)
      const l = yield* log(w)
      const backupId = l.find((x) => x.startsWith("backup:"))!.slice("backup:".length)
      expect(l.slice(-5)).toEqual(["stop", "switch:genesis", `restore:${backupId}`, "start:genesis", "resume"])
      expect(yield* alive(w)).toBe("genesis")
      expect(yield* history(w)).toContain("restore:ok")
    }))

  it.scoped("rotation keeps the newest DAEMON_BACKUP_KEEP backups across upgrades", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_BACKUP: "true", DAEMON_BACKUP_KEEP: "2" })
      yield* scheduleUpgrade(w, "v2", 100)
      yield* scheduleUpgrade(w, "v3", 200)
      yield* scheduleUpgrade(w, "v4", 300)
      yield* startRunning(w)
      yield* fireAndEnd(w, "v2", 100)
      yield* fireAndEnd(w, "v3", 200)
      yield* fireAndEnd(w, "v4", 300)
      const kept = backupsOnDisk(w)
      expect(kept.map((b) => b.split("-")[0])).toEqual(["v3", "v4"])
    }))

  for (const at of ["backup:journaled", "backup:applied"]) {
    it.scoped(`killed at ${at}: the replay takes exactly one backup and keeps it for the rollback`, () =>
      Effect.gen(function*() {
        const w = yield* makeWorld({ DAEMON_BACKUP: "true" })
        yield* scheduleUpgrade(w, "v2", 100)
        const first = yield* startRunning(w, { crashAt: at })
        yield* pushHeight(w, 100)
        yield* advanceUntil(`crash point ${at}`, Deferred.isDone(first.crashed), 10)
        yield* first.kill
        expect(journal(w)?.step).toBe("backup")
        expect(backupsOnDisk(w)).toHaveLength(at === "backup:applied" ? 1 : 0)

        yield* Ref.set(w.spawnFails, new Set<Target>([name("v2")]))
        const second = yield* startRun(w)
        yield* advanceUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
        yield* waitUntil(
          "node up",
          SubscriptionRef.get(second.nodeStatus).pipe(Effect.map((s) => s.state === "running"))
        )
        expect(backupsOnDisk(w)).toHaveLength(1)
        const l = yield* log(w)
        expect(l.filter((x) => x.startsWith("backup:"))).toHaveLength(1)
        // v2 could not start: rolled back, and the one backup restored.
        expect(l.filter((x) => x.startsWith("restore:"))).toEqual([`restore:${backupsOnDisk(w)[0]}`])
        expect(yield* statusOf(w, "v2")).toBe("failed")
        expect(yield* alive(w)).toBe("genesis")
      }))
  }

  it.scoped("a backup finished just before a crash, before its path was journaled, is adopted, not taken twice", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_BACKUP: "true" })
      yield* scheduleUpgrade(w, "v2", 100)
      yield* setHead(w, 100)
      // What the crashed run left: the backup on disk, the journal still without it.
      const id = "v2-19700101T000000000Z"
      fs.mkdirSync(path.join(w.config.layout.backups, id, "chaindata"), { recursive: true })
      fs.writeFileSync(path.join(w.config.layout.backups, id, DATA_FILE), dataText(w))
      writeJournal(w, { step: "backup", started_at: "1970-01-01T00:00:00.000Z" })
      yield* startRun(w)
      yield* advanceUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      expect(backupsOnDisk(w)).toEqual([id])
      expect((yield* log(w)).filter((x) => x.startsWith("backup:"))).toEqual([])
      expect(yield* detailOf(w, "backup", "ok")).toBe(path.join(w.config.layout.backups, id))
      expect(yield* upgradeOf(w, "v2")).toMatchObject({ status: "done", reason: null })
    }))
})

describe("hooks", () => {
  const preUpgrade = (body: string, env: Record<string, string> = {}) => (dir: string) => ({
    DAEMON_PRE_UPGRADE: hookScript(dir, "pre-upgrade", body),
    ...env
  })

  it.scoped("pre-upgrade exit 0: runs after switch, before start, with the name and height", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld(
        preUpgrade(`echo "current=$(readlink "$DAEMON_HOME/wemixvisor/current")" >> "$DAEMON_HOME/hooks/seen"\nexit 0`)
      )
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* fireAndEnd(w)
      expect(yield* statusOf(w, "v2")).toBe("done")
      expect(hookRuns(w, "pre-upgrade")).toEqual(["v2 100"])
      expect(yield* history(w)).toEqual([
        "pre-stop:skipped",
        "stop:started",
        "stop:ok",
        "backup:skipped",
        "switch:started",
        "switch:ok",
        "pre-upgrade:started",
        "pre-upgrade:ok",
        "start:started",
        "start:ok",
        "verify:started",
        "verify:ok",
        "done:started",
        "done:ok"
      ])
    }))

  it.scoped("pre-upgrade exit 30: the upgrade fails and rolls back; the new binary never starts", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld(preUpgrade("exit 30"))
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* fireAndEnd(w)
      const u = yield* upgradeOf(w, "v2")
      expect(u?.status).toBe("failed")
      expect(u?.reason).toMatch(/pre-upgrade hook .*pre-upgrade exited with code 30 \(fail the upgrade\)/)
      expect(yield* log(w)).toEqual([
        "start:genesis",
        "suspend",
        "stop",
        "switch:v2",
        "stop",
        "switch:genesis",
        "start:genesis",
        "resume"
      ])
      expect(hookRuns(w, "pre-upgrade")).toHaveLength(1)
      expect(yield* history(w)).toContain("pre-upgrade:failed")
    }))

  it.scoped("pre-upgrade exit 31: retried up to DAEMON_PRE_UPGRADE_MAX_RETRIES (3 runs for 2 retries), then fails", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld(preUpgrade("exit 31", { DAEMON_PRE_UPGRADE_MAX_RETRIES: "2" }))
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* fireAndEnd(w)
      const u = yield* upgradeOf(w, "v2")
      expect(u?.status).toBe("failed")
      expect(u?.reason).toMatch(/still asked for a retry \(code 31\) after 3 runs/)
      expect(hookRuns(w, "pre-upgrade")).toEqual(["v2 100", "v2 100", "v2 100"])
      expect(yield* alive(w)).toBe("genesis")
    }))

  it.scoped("pre-upgrade exit 31 then 0: the retry succeeds and the upgrade completes", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld((dir) =>
        preUpgrade(`[ "$(wc -l < "${dir}/hooks/pre-upgrade.runs")" -ge 2 ] && exit 0\nexit 31`, {
          DAEMON_PRE_UPGRADE_MAX_RETRIES: "3"
        })(dir)
      )
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* fireAndEnd(w)
      expect(yield* statusOf(w, "v2")).toBe("done")
      expect(hookRuns(w, "pre-upgrade")).toHaveLength(2)
    }))

  it.scoped("pre-upgrade with any other code (unlike Cosmovisor) fails the upgrade", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld(preUpgrade("exit 7"))
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* fireAndEnd(w)
      const u = yield* upgradeOf(w, "v2")
      expect(u?.status).toBe("failed")
      expect(u?.reason).toMatch(/exited with code 7$/)
      expect(yield* Ref.get(w.current)).toBe("genesis")
    }))

  it.scoped("pre-stop failure: logged, recorded, published — and the upgrade goes on", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld((dir) => ({
        DAEMON_PRE_STOP: hookScript(dir, "pre-stop", "echo 'hand-off refused' >&2\nexit 1")
      }))
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* fireAndEnd(w)
      expect(yield* statusOf(w, "v2")).toBe("done")
      expect(hookRuns(w, "pre-stop")).toEqual(["v2 100"])
      expect((yield* history(w)).slice(0, 3)).toEqual(["pre-stop:started", "pre-stop:failed", "stop:started"])
      const problem = (yield* Ref.get(w.events)).find((e) => e.type === "upgrade-problem")
      expect(problem).toMatchObject({
        name: "v2",
        reason: expect.stringMatching(/pre-stop hook .* exited with code 1; the upgrade goes on/)
      })
      // The hook ran while the old node was still up.
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2", "resume"])
    }))

  it.scoped("a hanging pre-stop hook is cut off at DAEMON_HOOK_TIMEOUT, and the upgrade goes on", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld((dir) => ({
        DAEMON_PRE_STOP: hookScript(dir, "pre-stop", "exec sleep 60"),
        DAEMON_HOOK_TIMEOUT: "3s"
      }))
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* pushHeight(w, 100)
      yield* waitUntil("pre-stop journaled", Effect.sync(() => journal(w)?.step === "pre-stop"))
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])
      yield* advanceUntil("v2 ended", ended(w))
      expect(yield* statusOf(w, "v2")).toBe("done")
      expect(yield* detailOf(w, "pre-stop", "failed")).toMatch(
        /did not finish within 3s and was killed; the upgrade goes on/
      )
    }))

  it.scoped("killed at pre-upgrade:journaled: the replay runs the hook again before the start", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld(preUpgrade("exit 0"))
      yield* scheduleUpgrade(w, "v2", 100)
      const first = yield* startRunning(w, { crashAt: "pre-upgrade:journaled" })
      yield* pushHeight(w, 100)
      yield* advanceUntil("crash point", Deferred.isDone(first.crashed), 10)
      yield* first.kill
      expect(hookRuns(w, "pre-upgrade")).toEqual([])
      yield* startRun(w)
      yield* advanceUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      expect(hookRuns(w, "pre-upgrade")).toEqual(["v2 100"])
      expect(yield* statusOf(w, "v2")).toBe("done")
      expect(yield* alive(w)).toBe("v2")
    }))
})
