import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Option, Ref, TestClock } from "effect"
import { IoError, PlanLocked } from "../../src/domain/Errors.js"
import { setStatus } from "../../src/domain/Plan.js"
import {
  corruptPlan,
  log,
  makeWorld,
  pushHeight,
  readPlan,
  scheduleUpgrade,
  setHead,
  setPlan,
  settle,
  startRun,
  startRunning,
  statusOf,
  waitUntil,
  type World
} from "./fakes.js"

/*
 * Failures the orchestrator recovers from are said in the log, never
 * swallowed; and a plan lock held by another writer never holds an upgrade
 * back at its height.
 */

const logged = (w: World, level: string, text: string) => w.logs.some((l) => l.startsWith(level) && l.includes(text))
const waitLogged = (w: World, level: string, text: string) =>
  waitUntil(`${level} log with "${text}"`, Effect.sync(() => logged(w, level, text)))
const waitStatus = (w: World, n: string, status: string) =>
  waitUntil(`${n} is ${status}`, statusOf(w, n).pipe(Effect.map((s) => s === status)))

const locked = new PlanLocked({ path: "/h/wemixvisor/upgrade-plan.lock", pid: 4242 })

describe("Orchestrator: nothing swallowed", () => {
  it.scoped("a ready upgrade the plan cannot say ready again is logged, and said at a later check", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* waitStatus(w, "v2", "ready")
      // Another writer says otherwise, and the plan cannot be written for now.
      yield* Ref.set(w.planUpdateFails, Option.some(locked))
      yield* setPlan(w, setStatus(yield* readPlan(w), "v2", "scheduled", null, "2026-01-01T00:00:02.000Z").plan)
      yield* waitLogged(w, "WARN", "upgrade v2 is ready but the plan could not say so")
      expect(yield* statusOf(w, "v2")).toBe("scheduled")
      yield* Ref.set(w.planUpdateFails, Option.none())
      yield* TestClock.adjust("1 second")
      yield* waitStatus(w, "v2", "ready")
    }))

  it.scoped("backups that cannot be listed are logged, and a new backup is taken", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_BACKUP: "true", DAEMON_VERIFY_MIN_UP: "0s" })
      yield* scheduleUpgrade(w, "v2", 100)
      yield* Ref.set(
        w.backupListFails,
        Option.some(new IoError({ op: "readdir", path: w.config.layout.backups, cause: new Error("EIO") }))
      )
      yield* startRunning(w)
      yield* pushHeight(w, 100)
      yield* waitStatus(w, "v2", "done")
      expect(logged(w, "WARN", "upgrade v2: the backups cannot be listed")).toBe(true)
      expect((yield* log(w)).filter((e) => e.startsWith("backup:"))).toHaveLength(1)
    }))

  it.scoped("a plan that cannot be read at start is logged instead of the unjournaled-upgrade check", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* corruptPlan(w)
      yield* startRunning(w)
      yield* waitLogged(w, "WARN", "the plan cannot be read")
    }))

  it.scoped("replaying a journal while the plan cannot be read says the 'done is final' guard has nothing to check, then replays forward", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_VERIFY_MIN_UP: "0s" })
      yield* scheduleUpgrade(w, "v2", 100)
      const first = yield* startRunning(w, { crashAt: "verify:journaled" })
      yield* setHead(w, 100)
      yield* pushHeight(w, 100)
      yield* waitUntil("crash point", Deferred.isDone(first.crashed))
      yield* first.kill
      yield* corruptPlan(w)
      yield* startRun(w)
      yield* waitLogged(w, "ERROR", "resuming upgrade v2: the plan cannot be read")
      expect(logged(w, "ERROR", "no valid plan was seen")).toBe(true)
      yield* waitUntil(
        "v2 started again",
        log(w).pipe(Effect.map((l) => l.slice(l.indexOf("reaped")).includes("start:v2")))
      )
    }))

  it.scoped("a plan lock held past PlanStore's wait does not hold the upgrade back: it starts on the journal; the lock is said (pid), the plan catches up", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_VERIFY_MIN_UP: "0s" })
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* waitStatus(w, "v2", "ready")
      yield* Ref.set(w.planUpdateFails, Option.some(locked))
      yield* setHead(w, 100)
      yield* pushHeight(w, 100)
      // No clock movement: the height waits for nothing.
      yield* waitUntil("v2 started", log(w).pipe(Effect.map((l) => l.includes("start:v2"))))
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2"])
      yield* waitLogged(w, "ERROR", "upgrade-plan.lock is held by pid 4242")
      expect((yield* run.orchestrator.status).plan_problem).toMatch(/held by pid 4242/)
      expect(yield* statusOf(w, "v2")).toBe("ready")

      yield* Ref.set(w.planUpdateFails, Option.none())
      for (let i = 0; i < 5 && (yield* statusOf(w, "v2")) !== "done"; i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      yield* waitStatus(w, "v2", "done")
      expect((yield* run.orchestrator.status).plan_problem).toBeNull()
      expect(logged(w, "INFO", "the plan lock is free again")).toBe(true)
    }))
})
