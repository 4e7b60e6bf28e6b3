import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Either,
  Fiber,
  Option,
  Ref,
  Schema,
  SubscriptionRef,
  TestClock
} from "effect"
import * as fs from "node:fs"
import { PlanLocked } from "../../src/domain/Errors.js"
import { schedule, setStatus } from "../../src/domain/Plan.js"
import { StatusObject } from "../../src/domain/Status.js"
import type { Target } from "../../src/domain/Target.js"
import { Upgrade, UpgradePlan } from "../../src/domain/Upgrade.js"
import { crashHookFromEnv, parseCrashAt } from "../../src/orchestrator/CrashPoints.js"
import { quietTick } from "../../src/orchestrator/Loop.js"
import * as Cadence from "../../src/platform/Cadence.js"
import {
  alive,
  corruptPlan,
  deletePlan,
  eventTypes,
  h,
  journal,
  journalText,
  log,
  makeWorld,
  name,
  pushHeight,
  readPlan,
  type Run,
  scheduleUpgrade,
  setHead,
  setPlan,
  settle,
  startRun,
  startRunning,
  statusOf,
  upgradeOf,
  waitUntil,
  type World,
  writeJournal
} from "./fakes.js"

const waitLog = (w: World, entry: string) =>
  waitUntil(`log has ${entry}`, log(w).pipe(Effect.map((l) => l.includes(entry))))
const waitStatus = (w: World, n: string, status: string) =>
  waitUntil(`${n} is ${status}`, statusOf(w, n).pipe(Effect.map((s) => s === status)))
const countOf = (xs: ReadonlyArray<string>, x: string) => xs.filter((y) => y === x).length

/** Advances the clock a second at a time until `check` holds. */
const adjustUntil = (what: string, check: Effect.Effect<boolean>, maxSeconds = 60) =>
  Effect.gen(function*() {
    for (let i = 0; i < maxSeconds; i++) {
      yield* settle
      if (yield* check) return
      yield* TestClock.adjust("1 second")
    }
    yield* settle
    if (!(yield* check)) return yield* Effect.dieMessage(`never happened within ${maxSeconds}s: ${what}`)
  })

/** Fires v2 at height 100 and waits until the new binary was started (verify under way). */
const fireV2 = (w: World, run: Run) =>
  Effect.gen(function*() {
    yield* pushHeight(w, 100)
    yield* waitLog(w, "start:v2")
    yield* waitUntil("verify journaled", Effect.sync(() => journal(w)?.step === "verify"))
    return run
  })

describe("Orchestrator: when an upgrade fires", () => {
  it.scoped("an upgrade marked upgrading with no journal (killed before its first step) is scheduled again and fires", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* setPlan(w, setStatus(yield* readPlan(w), "v2", "upgrading", null, "2026-01-01T00:00:01.000Z").plan)
      yield* startRunning(w)
      yield* pushHeight(w, 101)
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2", "resume"])
      expect(yield* Ref.get(w.current)).toBe("v2")
    }))

  it.scoped("height 99 does not fire, 100 fires, exactly once", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* pushHeight(w, 99)
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])
      // Prepared ahead of the height (binary in place, probed).
      expect(yield* statusOf(w, "v2")).toBe("ready")

      yield* pushHeight(w, 100)
      yield* waitLog(w, "start:v2")
      expect(yield* statusOf(w, "v2")).toBe("upgrading")
      expect(journal(w)).toMatchObject({
        name: "v2",
        height: 100,
        from: "genesis",
        step: "verify",
        head_at_stop: 100,
        reason: null
      })

      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2", "resume"])
      expect(yield* Ref.get(w.current)).toBe("v2")
      expect(journalText(w)).toBeUndefined()
      expect(yield* alive(w)).toBe("v2")
      const events = yield* Ref.get(w.events)
      expect(events.map((e) => (e.type === "upgrade-step" ? `step:${e.step}` : e.type))).toEqual([
        "upgrade-preparing",
        "upgrade-ready",
        "upgrade-started",
        "step:stop",
        "step:switch",
        "step:start",
        "step:verify",
        "step:done",
        "upgrade-completed"
      ])
      expect(events[2]).toEqual({ type: "upgrade-started", name: "v2", height: 100, current_height: 100 })
      const history = (yield* Ref.get(w.history)).map((r) => `${r.step}:${r.result}`)
      expect(history).toEqual([
        "pre-stop:skipped",
        "stop:started",
        "stop:ok",
        "backup:skipped",
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

      // Later heights change nothing.
      yield* pushHeight(w, 101)
      yield* pushHeight(w, 150)
      yield* TestClock.adjust("3 seconds")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2", "resume"])
      expect(countOf(yield* eventTypes(w), "upgrade-started")).toBe(1)
    }))

  it.scoped("a height passed while the RPC was down fires on the first height after reconnect", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* pushHeight(w, 95)
      yield* setHead(w, null)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])

      yield* pushHeight(w, 120)
      yield* waitLog(w, "start:v2")
      expect(journal(w)).toMatchObject({ step: "verify", head_at_stop: 120 })
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
    }))

  it.scoped("head at stop falls back to the last height seen when the RPC does not answer", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* pushHeight(w, 104)
      yield* setHead(w, null)
      // The stream delivered 104 but eth_blockNumber now fails: the stop is journaled with 104.
      yield* waitLog(w, "start:v2")
      expect(journal(w)).toMatchObject({ step: "verify", head_at_stop: 104 })
    }))

  it.scoped("several passed heights are applied in order, lowest first; a failed one does not block the next", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v4", 130)
      yield* scheduleUpgrade(w, "v2", 100)
      yield* scheduleUpgrade(w, "v3", 110)
      yield* Ref.set(w.spawnFails, new Set<Target>([name("v3")]))
      yield* startRunning(w)
      yield* pushHeight(w, 140)
      yield* waitLog(w, "start:v2")
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
      // v3 cannot start: rolled back to v2 at once, then v4 fires from v2.
      yield* waitStatus(w, "v3", "failed")
      yield* waitLog(w, "start:v4")
      expect(journal(w)).toMatchObject({ name: "v4", from: "v2", step: "verify" })
      yield* adjustUntil("v4 done", statusOf(w, "v4").pipe(Effect.map((s) => s === "done")))
      expect(yield* log(w)).toEqual([
        "start:genesis",
        ...["suspend", "stop", "switch:v2", "start:v2", "resume"],
        ...["suspend", "stop", "switch:v3", "start:v3", "stop", "switch:v2", "start:v2", "resume"],
        ...["suspend", "stop", "switch:v4", "start:v4", "resume"]
      ])
      expect((yield* upgradeOf(w, "v3"))?.reason).toMatch(
        /the new binary did not start: could not start .*v3.*exec format error/
      )
      expect(yield* Ref.get(w.current)).toBe("v4")
      expect(yield* Ref.get(w.violations)).toEqual([])
    }))
})

describe("Orchestrator: between the steps", () => {
  it.scoped("DAEMON_UPGRADE_DELAY: the new binary starts only after the delay", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_UPGRADE_DELAY: "3s" })
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* pushHeight(w, 100)
      yield* waitLog(w, "stop")
      yield* TestClock.adjust("2900 millis")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop"])
      expect(journal(w)?.step).toBe("stop")
      yield* TestClock.adjust("100 millis")
      yield* waitLog(w, "start:v2")
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2"])
    }))

  it.scoped("an outcome the plan cannot take yet keeps the journal and holds back the next upgrade", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* scheduleUpgrade(w, "v3", 100)
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      const upgrading = yield* readPlan(w)
      yield* corruptPlan(w)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      // Verified, but "done" cannot be written: the journal stays at done, nothing else fires.
      expect(journal(w)?.step).toBe("done")
      expect(yield* run.orchestrator.paused).toMatch(/v2 ended but the plan could not be updated/)
      yield* TestClock.adjust("3 seconds")
      yield* settle
      expect(yield* log(w)).not.toContain("switch:v3")

      yield* setPlan(w, upgrading)
      yield* waitStatus(w, "v2", "done")
      yield* waitLog(w, "switch:v3")
      expect(journal(w)).toMatchObject({ name: "v3", from: "v2" })
      expect(countOf(yield* eventTypes(w), "upgrade-completed")).toBe(1)
    }))
})

describe("Orchestrator: verify", () => {
  it.scoped("min-up is honoured: not done before DAEMON_VERIFY_MIN_UP", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      yield* TestClock.adjust("4900 millis")
      yield* settle
      expect(yield* statusOf(w, "v2")).toBe("upgrading")
      expect(journal(w)?.step).toBe("verify")
      yield* TestClock.adjust("100 millis")
      yield* waitStatus(w, "v2", "done")
    }))

  it.scoped("timeout rolls back to the previous target (not genesis), plan failed with the reason, old node started", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* Ref.set(w.current, name("v1"))
      yield* Ref.set(w.usable, new Set<Target>(["genesis", name("v1")]))
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      expect(yield* log(w)).toEqual(["start:v1"])
      yield* fireV2(w, run)
      yield* setHead(w, null) // the new binary never answers RPC
      yield* TestClock.adjust("19 seconds")
      yield* settle
      expect(yield* statusOf(w, "v2")).toBe("upgrading")
      yield* TestClock.adjust("1 second")
      yield* waitStatus(w, "v2", "failed")
      const u = yield* upgradeOf(w, "v2")
      expect(u?.reason).toMatch(/^verify failed: did not pass within 20s: the node's RPC does not answer/)
      expect(yield* log(w)).toEqual([
        "start:v1",
        "suspend",
        "stop",
        "switch:v2",
        "start:v2",
        "stop",
        "switch:v1",
        "start:v1",
        "resume"
      ])
      expect(yield* Ref.get(w.current)).toBe("v1")
      expect(yield* alive(w)).toBe("v1")
      expect(journalText(w)).toBeUndefined()
      const events = yield* Ref.get(w.events)
      expect(events.filter((e) => e.type === "upgrade-failed" || e.type === "rollback-completed")).toEqual([
        { type: "upgrade-failed", name: "v2", reason: u?.reason },
        { type: "rollback-completed", name: "v2", current: "v1" }
      ])
      expect(yield* run.orchestrator.halted).toBeNull()
      const st = yield* run.orchestrator.status
      expect(st.last).toEqual({ name: "v2", status: "failed", reason: u?.reason })
      // Never retried on its own.
      yield* pushHeight(w, 130)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(countOf(yield* log(w), "switch:v2")).toBe(1)
    }))

  it.scoped("any exit during verify fails it at once (no restart) and rolls back", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      yield* TestClock.adjust("4 seconds")
      yield* settle
      yield* run.crashNode(2)
      yield* waitStatus(w, "v2", "failed")
      expect((yield* upgradeOf(w, "v2"))?.reason).toMatch(/exited with code 2/)
      expect(yield* log(w)).toEqual([
        "start:genesis",
        "suspend",
        "stop",
        "switch:v2",
        "start:v2",
        "stop",
        "switch:genesis",
        "start:genesis",
        "resume"
      ])
      expect(yield* alive(w)).toBe("genesis")
      expect(yield* Ref.get(w.violations)).toEqual([])
    }))

  it.scoped("a head below the head at stop fails verify", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      yield* setHead(w, 50) // e.g. a binary that opened an empty data dir
      yield* adjustUntil("v2 failed", statusOf(w, "v2").pipe(Effect.map((s) => s === "failed")))
      expect((yield* upgradeOf(w, "v2"))?.reason).toMatch(/its head 50 is below the head at stop \(100\)/)
      expect(yield* Ref.get(w.current)).toBe("genesis")
    }))

  it.scoped("DAEMON_VERIFY_PROGRESS: a head that does not advance fails", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_VERIFY_PROGRESS: "true" })
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      yield* adjustUntil("v2 failed", statusOf(w, "v2").pipe(Effect.map((s) => s === "failed")))
      expect((yield* upgradeOf(w, "v2"))?.reason).toMatch(/its head has not advanced beyond 100/)
    }))

  it.scoped("DAEMON_VERIFY_PROGRESS: a head that advances passes once min-up is reached", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_VERIFY_PROGRESS: "true" })
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      yield* TestClock.adjust("2 seconds")
      yield* setHead(w, 101)
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* statusOf(w, "v2")).toBe("upgrading")
      yield* TestClock.adjust("1 second")
      yield* waitStatus(w, "v2", "done")
    }))

  it.scoped("on_failure=halt under DAEMON_ON_UPGRADE_FAILURE=rollback: this upgrade halts, and journaled its policy", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "rollback" })
      yield* scheduleUpgrade(w, "v2", 100, { onFailure: "halt" })
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      expect(journal(w)).toMatchObject({ name: "v2", on_failure: "halt" })
      yield* run.crashNode(1)
      yield* waitStatus(w, "v2", "failed")
      yield* waitUntil("halted", run.orchestrator.halted.pipe(Effect.map((x) => x !== null)))
      expect(yield* run.orchestrator.halted).toMatch(/^halted after failed upgrade v2: verify failed/)
      expect(yield* log(w)).toEqual([
        "start:genesis",
        "suspend",
        "stop",
        "switch:v2",
        "start:v2",
        "stop",
        "switch:genesis"
      ])
      expect(yield* Ref.get(w.current)).toBe("genesis")
      expect(yield* alive(w)).toBeNull()
      expect(yield* eventTypes(w)).not.toContain("rollback-completed")
    }))

  it.scoped("on_failure=rollback under DAEMON_ON_UPGRADE_FAILURE=halt: this upgrade rolls back and the old node runs", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "halt" })
      yield* scheduleUpgrade(w, "v2", 100, { onFailure: "rollback" })
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      expect(journal(w)).toMatchObject({ name: "v2", on_failure: "rollback" })
      yield* run.crashNode(1)
      yield* waitStatus(w, "v2", "failed")
      yield* waitUntil("node up", Effect.map(alive(w), (a) => a === "genesis"))
      expect(yield* run.orchestrator.halted).toBeNull()
      expect(yield* log(w)).toEqual([
        "start:genesis",
        "suspend",
        "stop",
        "switch:v2",
        "start:v2",
        "stop",
        "switch:genesis",
        "start:genesis",
        "resume"
      ])
      expect(yield* eventTypes(w)).toContain("rollback-completed")
    }))

  it.scoped("halt policy: node left stopped, current back on the previous target, never restarted", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "halt" })
      yield* scheduleUpgrade(w, "v2", 100)
      yield* scheduleUpgrade(w, "v3", 200)
      const run = yield* startRunning(w)
      yield* fireV2(w, run)
      yield* run.crashNode(1)
      yield* waitStatus(w, "v2", "failed")
      yield* waitUntil("halted", run.orchestrator.halted.pipe(Effect.map((x) => x !== null)))
      expect(yield* run.orchestrator.halted).toMatch(/^halted after failed upgrade v2: verify failed: the node/)
      expect(yield* log(w)).toEqual([
        "start:genesis",
        "suspend",
        "stop",
        "switch:v2",
        "start:v2",
        "stop",
        "switch:genesis"
      ])
      expect(yield* Ref.get(w.current)).toBe("genesis")
      expect(yield* alive(w)).toBeNull()
      expect(journalText(w)).toBeUndefined()
      expect(yield* eventTypes(w)).toContain("upgrade-failed")
      expect(yield* eventTypes(w)).not.toContain("rollback-completed")
      expect((yield* run.orchestrator.status).node_state).not.toBe("running")

      // Nothing starts the node or fires another upgrade while halted.
      yield* pushHeight(w, 250)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(yield* log(w)).toEqual([
        "start:genesis",
        "suspend",
        "stop",
        "switch:v2",
        "start:v2",
        "stop",
        "switch:genesis"
      ])
      expect(yield* statusOf(w, "v3")).toBe("ready")

      // Restarting wemixvisor starts the (old) current binary again.
      yield* run.kill
      yield* startRunning(w)
      expect((yield* log(w)).at(-1)).toBe("start:genesis")
    }))
})

describe("Orchestrator: the quiet tick", () => {
  const ticks = (pollInterval: Duration.DurationInput) =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const at = yield* Ref.make<ReadonlyArray<number>>([])
      const fiber = yield* Cadence.repeat(
        Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(at, (a) => [...a, t - start])),
        quietTick(pollInterval)
      ).pipe(
        Effect.fork
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.interrupt(fiber)
      return (yield* Ref.get(at)).slice(0, 4)
    })

  it.effect("with nothing waking it, looks again once a second at most, or every poll interval when that is longer", () =>
    Effect.gen(function*() {
      expect(yield* ticks("300 millis")).toEqual([0, 1000, 2000, 3000])
      expect(yield* ticks("1 second")).toEqual([0, 1000, 2000, 3000])
      expect(yield* ticks("2 seconds")).toEqual([0, 2000, 4000, 6000])
    }))
})

describe("Orchestrator: the upgrade binary", () => {
  it.scoped("missing → reason + one upgrade-problem; put in place → ready; removed → reason again; reached while missing → failed, node untouched", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100, { binary: false })
      const run = yield* startRunning(w)
      const missing = `binary missing: ${w.config.layout.binary(name("v2"))} does not exist`
      yield* waitUntil("reason recorded", upgradeOf(w, "v2").pipe(Effect.map((u) => u?.reason === missing)))
      expect(yield* statusOf(w, "v2")).toBe("scheduled")
      expect(yield* Ref.get(w.planWrites)).toBe(1)

      // Re-checked every poll, but the plan is rewritten only when the reason changes.
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(yield* Ref.get(w.planWrites)).toBe(1)
      expect((yield* Ref.get(w.events)).filter((e) => e.type === "upgrade-problem")).toEqual([
        { type: "upgrade-problem", name: "v2", reason: missing }
      ])

      // The operator puts it in place: the next check prepares it (preparing → ready).
      yield* Ref.update(w.usable, (s) => new Set([...s, name("v2")]))
      yield* TestClock.adjust("1 second")
      yield* waitStatus(w, "v2", "ready")
      expect((yield* upgradeOf(w, "v2"))?.reason).toBeNull()
      expect(yield* Ref.get(w.planWrites)).toBe(3)
      expect((yield* eventTypes(w)).filter((t) => t !== "upgrade-problem")).toEqual([
        "upgrade-preparing",
        "upgrade-ready"
      ])

      // Gone again: back to scheduled with the reason, announced once more.
      yield* Ref.set(w.usable, new Set<Target>(["genesis"]))
      yield* TestClock.adjust("1 second")
      yield* waitUntil("reason back", upgradeOf(w, "v2").pipe(Effect.map((u) => u?.reason === missing)))
      expect(yield* statusOf(w, "v2")).toBe("scheduled")
      expect(countOf(yield* eventTypes(w), "upgrade-problem")).toBe(2)

      yield* pushHeight(w, 100)
      yield* waitStatus(w, "v2", "failed")
      const reason = `not ready at its height 100: ${missing}`
      expect((yield* upgradeOf(w, "v2"))?.reason).toBe(reason)
      expect(yield* log(w)).toEqual(["start:genesis"])
      expect(yield* Ref.get(w.current)).toBe("genesis")
      expect(yield* alive(w)).toBe("genesis")
      expect(journalText(w)).toBeUndefined()
      expect((yield* Ref.get(w.events)).filter((e) => e.type === "upgrade-failed")).toEqual([
        { type: "upgrade-failed", name: "v2", reason }
      ])
      expect((yield* run.orchestrator.status).last).toEqual({ name: "v2", status: "failed", reason })
    }))
})

describe("Orchestrator: a corrupt plan or journal", () => {
  it.scoped("a plan that goes corrupt does not pause a known upgrade: it fires from the last valid plan, said in plan_problem, the file never written", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const good = yield* readPlan(w)
      const run = yield* startRunning(w)
      yield* waitStatus(w, "v2", "ready")
      const writes = yield* Ref.get(w.planWrites)
      yield* corruptPlan(w)
      yield* settle
      const st = yield* run.orchestrator.status
      expect(st.plan_problem).toMatch(/upgrade-plan\.json is corrupt: not JSON.*last valid plan/)
      expect(st.paused).toBeNull()
      expect(st.pending.map((u) => u.name)).toEqual(["v2"])

      yield* pushHeight(w, 120)
      yield* waitLog(w, "start:v2")
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2"])
      yield* TestClock.adjust("6 seconds")
      yield* settle
      // Verified, but the outcome waits for a plan file that can take it: never written over the corrupt one.
      expect(journal(w)?.step).toBe("done")
      expect(yield* Ref.get(w.planWrites)).toBe(writes)

      yield* setPlan(w, good)
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
      expect((yield* run.orchestrator.status).plan_problem).toBeNull()
    }))

  it.scoped("a run that starts on a corrupt plan, with no valid plan to go on from, pauses upgrades until it is fixed", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const good = yield* readPlan(w)
      yield* corruptPlan(w)
      const run = yield* startRunning(w)
      yield* pushHeight(w, 120)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])
      expect(yield* alive(w)).toBe("genesis")
      expect(yield* run.orchestrator.paused).toMatch(/upgrades paused: .*upgrade-plan\.json is corrupt: not JSON/)
      expect((yield* run.orchestrator.status).plan_problem).toMatch(/paused until it is fixed/)

      yield* setPlan(w, good)
      yield* waitLog(w, "start:v2")
      expect(yield* run.orchestrator.paused).toBeNull()
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
    }))

  it.scoped("a deleted plan is re-created from the last valid plan (plan-restored) and its upgrade fires at its height", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* waitStatus(w, "v2", "ready")
      yield* deletePlan(w)
      yield* waitUntil("the plan re-created", Ref.get(w.planMissing).pipe(Effect.map((m) => !m)))
      expect((yield* upgradeOf(w, "v2"))?.status).toBe("ready")
      expect(yield* Ref.get(w.events)).toContainEqual({
        type: "plan-restored",
        path: w.config.layout.plan,
        upgrades: 1
      })
      expect((yield* run.orchestrator.status).pending.map((u) => u.name)).toEqual(["v2"])

      yield* pushHeight(w, 100)
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
      expect(yield* Ref.get(w.current)).toBe("v2")
    }))

  it.scoped("a deleted plan whose restore is held back (lock) still fires its upgrade from the last valid plan", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* waitStatus(w, "v2", "ready")
      yield* Ref.set(w.planUpdateFails, Option.some(new PlanLocked({ path: w.config.layout.planLock, pid: 4242 })))
      yield* deletePlan(w)
      yield* settle
      yield* pushHeight(w, 100)
      yield* waitLog(w, "start:v2")
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2"])
      yield* Ref.set(w.planUpdateFails, Option.none())
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
    }))

  it.scoped("a corrupt journal: reported, node started, no upgrade started", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      fs.writeFileSync(w.config.layout.journal, "{ not json")
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      expect(yield* run.orchestrator.paused).toMatch(/journal\.json is corrupt/)
      yield* pushHeight(w, 120)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])
      expect(fs.readFileSync(w.config.layout.journal, "utf8")).toBe("{ not json")
    }))

  it.scoped("a journal that does not validate is corrupt too", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      fs.writeFileSync(
        w.config.layout.journal,
        JSON.stringify({ name: "../x", height: 1, from: "genesis", step: "stop" })
      )
      const run = yield* startRunning(w)
      expect(yield* run.orchestrator.paused).toMatch(/journal\.json is corrupt/)
      expect(yield* log(w)).toEqual(["start:genesis"])
    }))
})

describe("Orchestrator: a corrupt journal is picked up live", () => {
  it.scoped("removed as the log says: upgrades resume without a restart", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      fs.writeFileSync(w.config.layout.journal, "{ not json")
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      const st = yield* run.orchestrator.status
      expect(st.paused).toMatch(/upgrades paused: .*journal\.json is corrupt/)
      yield* pushHeight(w, 101)
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])

      fs.rmSync(w.config.layout.journal)
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "switch:v2", "start:v2", "resume"])
      expect(yield* run.orchestrator.paused).toBeNull()
    }))

  it.scoped("fixed into a valid journal: replayed forward, the node on the current binary stopped first (one node)", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      fs.writeFileSync(w.config.layout.journal, "{ not json")
      yield* scheduleUpgrade(w, "v2", 100)
      yield* startRunning(w)
      yield* pushHeight(w, 100)
      writeJournal(w, { step: "switch" })
      yield* TestClock.adjust("1 second")
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
      // Stopped (restarts suspended) before the replay, which suspends them again as a replay past `stop` does.
      expect(yield* log(w)).toEqual(["start:genesis", "suspend", "stop", "suspend", "switch:v2", "start:v2", "resume"])
      expect(yield* Ref.get(w.violations)).toEqual([])
      expect(journalText(w)).toBeUndefined()
    }))
})

describe("Orchestrator: a plan entry that appears with its height already reached", () => {
  /** An entry as an editor writes it: no `checked_head`, no `force`. */
  const handEdit = (w: World, n: string, height: number, proof: { readonly checkedHead?: number } = {}) =>
    Effect.gen(function*() {
      const r = schedule(yield* readPlan(w), { name: name(n), height: h(height) }, {
        head: proof.checkedHead === undefined ? undefined : h(proof.checkedHead),
        force: false,
        now: "2026-01-02T00:00:00.000Z"
      })
      yield* Ref.update(w.usable, (u) => new Set([...u, name(n)]))
      yield* setPlan(w, Either.getOrThrow(r).plan)
    })

  it.scoped("by hand: refused (failed, plan-invalid, says --force), never fired", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      const run = yield* startRunning(w)
      yield* pushHeight(w, 120)
      yield* settle
      yield* handEdit(w, "v2", 100)
      yield* waitStatus(w, "v2", "failed")
      expect((yield* upgradeOf(w, "v2"))?.reason).toMatch(
        /already reached \(chain head 120\).*schedule it again with --force/
      )
      const invalid = (yield* Ref.get(w.events)).filter((e) => e.type === "plan-invalid")
      expect(invalid).toHaveLength(1)
      expect(invalid[0]).toMatchObject({ path: w.config.layout.plan, reason: expect.stringContaining("'v2'") })
      yield* pushHeight(w, 121)
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])
      expect((yield* run.orchestrator.status).pending).toEqual([])
    }))

  it.scoped("through wemixvisor (checked_head), reached before the watcher saw it: fires", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* startRunning(w)
      yield* pushHeight(w, 105)
      yield* settle
      yield* handEdit(w, "v2", 100, { checkedHead: 99 })
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
    }))

  it.scoped("in the plan the run started with (the supervisor was down at the height): fires", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* handEdit(w, "v2", 100)
      yield* startRunning(w)
      yield* pushHeight(w, 120)
      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
    }))
})

describe("Orchestrator: recovery replays the journal forward", () => {
  const forwardPoints = [
    "stop:journaled",
    "stop:applied",
    "switch:journaled",
    "switch:applied",
    "start:journaled",
    "start:applied",
    "verify:journaled",
    "verify:applied",
    "done:journaled",
    "done:applied"
  ]

  /** Runs until the crash point, kills the run there, returns the log length at the kill. */
  const crashAt = (w: World, at: string) =>
    Effect.gen(function*() {
      const run = yield* startRunning(w, { crashAt: at })
      yield* pushHeight(w, 100)
      yield* adjustUntil(`crash point ${at}`, Deferred.isDone(run.crashed), 30)
      yield* run.kill
      return (yield* log(w)).length
    })

  for (const at of forwardPoints) {
    it.scoped(`killed at ${at}: the upgrade completes exactly once, one node, on v2`, () =>
      Effect.gen(function*() {
        const w = yield* makeWorld()
        yield* scheduleUpgrade(w, "v2", 100)
        const mark = yield* crashAt(w, at)
        expect(journal(w)?.step).toBe(at.split(":")[0])

        const run = yield* startRun(w)
        yield* adjustUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
        yield* waitUntil("node up", SubscriptionRef.get(run.nodeStatus).pipe(Effect.map((s) => s.state === "running")))
        expect(yield* statusOf(w, "v2")).toBe("done")
        expect(yield* Ref.get(w.current)).toBe("v2")
        expect(yield* alive(w)).toBe("v2")
        expect(yield* Ref.get(w.violations)).toEqual([])
        const second = (yield* log(w)).slice(mark)
        expect(second.filter((e) => e.startsWith("start:") || e.startsWith("restart:"))).toEqual(["start:v2"])
        expect(countOf(second, "switch:v2")).toBeLessThanOrEqual(1)
        expect(countOf(yield* eventTypes(w), "upgrade-completed")).toBe(1)
        const history = yield* Ref.get(w.history)
        expect(history.filter((r) => r.step === "done" && r.result === "ok")).toHaveLength(1)
        expect(history.some((r) => r.step === "recover")).toBe(true)

        // And never again.
        yield* pushHeight(w, 130)
        yield* TestClock.adjust("5 seconds")
        yield* settle
        expect(countOf((yield* log(w)).slice(mark), "switch:v2")).toBeLessThanOrEqual(1)
        expect(yield* statusOf(w, "v2")).toBe("done")
      }))
  }

  for (const at of ["rollback:journaled", "rollback:applied"]) {
    it.scoped(`killed at ${at}: the rollback completes once, back on the previous target`, () =>
      Effect.gen(function*() {
        const w = yield* makeWorld()
        yield* Ref.set(w.current, name("v1"))
        yield* Ref.set(w.usable, new Set<Target>(["genesis", name("v1")]))
        yield* Ref.set(w.spawnFails, new Set<Target>([name("v2")]))
        yield* scheduleUpgrade(w, "v2", 100)
        const mark = yield* crashAt(w, at)
        expect(journal(w)).toMatchObject({
          step: "rollback",
          from: "v1",
          reason: expect.stringMatching(/did not start/)
        })

        const run = yield* startRun(w)
        yield* waitUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
        yield* waitUntil("node up", SubscriptionRef.get(run.nodeStatus).pipe(Effect.map((s) => s.state === "running")))
        const u = yield* upgradeOf(w, "v2")
        expect(u?.status).toBe("failed")
        expect(u?.reason).toMatch(/the new binary did not start/)
        expect(yield* Ref.get(w.current)).toBe("v1")
        expect(yield* alive(w)).toBe("v1")
        expect(yield* Ref.get(w.violations)).toEqual([])
        const second = (yield* log(w)).slice(mark)
        expect(second.filter((e) => e.startsWith("start:"))).toEqual(["start:v1"])
        expect(second).not.toContain("switch:v2")
        expect(countOf(yield* eventTypes(w), "upgrade-failed")).toBe(1)
        expect(countOf(yield* eventTypes(w), "rollback-completed")).toBe(1)
      }))
  }

  it.scoped("halt policy replayed: a journal at rollback leaves the node stopped on the previous target", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "halt" })
      yield* Ref.set(w.spawnFails, new Set<Target>([name("v2")]))
      yield* scheduleUpgrade(w, "v2", 100)
      yield* crashAt(w, "rollback:journaled")
      const run = yield* startRun(w)
      yield* waitUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      yield* settle
      expect(yield* statusOf(w, "v2")).toBe("failed")
      expect(yield* Ref.get(w.current)).toBe("genesis")
      expect(yield* alive(w)).toBeNull()
      expect(yield* run.orchestrator.halted).toMatch(/halted after failed upgrade v2/)
    }))

  it.scoped("the policy journaled when the upgrade started rules its replay, whatever the plan says now", () =>
    Effect.gen(function*() {
      // Global rollback, the upgrade's own halt: journaled with the first step.
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100, { onFailure: "halt" })
      yield* crashAt(w, "start:journaled")
      expect(journal(w)).toMatchObject({ name: "v2", step: "start", on_failure: "halt" })
      // The plan is changed (by hand) while wemixvisor is down: the journal still says halt.
      const plan = yield* readPlan(w)
      const u = plan.upgrades.find((x) => x.name === "v2")!
      yield* setPlan(
        w,
        new UpgradePlan({ version: 1, upgrades: [new Upgrade({ ...u, on_failure: "rollback" })] })
      )
      yield* Ref.set(w.spawnFails, new Set<Target>([name("v2")]))
      const run = yield* startRun(w)
      yield* waitUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      yield* settle
      expect(yield* statusOf(w, "v2")).toBe("failed")
      expect(yield* Ref.get(w.current)).toBe("genesis")
      expect(yield* alive(w)).toBeNull()
      expect(yield* run.orchestrator.halted).toMatch(/halted after failed upgrade v2/)
    }))

  it.scoped("a journal older than on_failure replays under DAEMON_ON_UPGRADE_FAILURE", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "halt" })
      yield* scheduleUpgrade(w, "v2", 100)
      yield* Ref.set(w.current, name("v2"))
      writeJournal(w, { step: "rollback", started_at: "t", reason: "verify failed" })
      const run = yield* startRun(w)
      yield* waitUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      yield* settle
      expect(yield* Ref.get(w.current)).toBe("genesis")
      expect(yield* alive(w)).toBeNull()
      expect(yield* run.orchestrator.halted).toMatch(/halted after failed upgrade v2/)
    }))

  it.scoped("a plan that already says done is never followed by another switch for that name", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const plan = yield* readPlan(w)
      yield* setPlan(w, setStatus(plan, "v2", "done", null, "2026-01-02T00:00:00.000Z").plan)
      yield* Ref.set(w.current, name("v2"))
      writeJournal(w, { step: "stop", started_at: "t" })
      yield* startRunning(w)
      yield* waitUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      expect(yield* log(w)).toEqual(["resume", "start:v2"])
      expect(yield* eventTypes(w)).not.toContain("upgrade-completed")
    }))

  // Killed after the outcome's history line, before the plan said it: the replay finds the line, writes no
  // second one and sends no second event (the plan is written last, ARCHITECTURE §7.6).
  const killedBeforePlan = (step: "done" | "rollback") =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "halt" })
      yield* scheduleUpgrade(w, "v2", 100)
      const plan = yield* readPlan(w)
      yield* setPlan(w, setStatus(plan, "v2", "upgrading", null, "2026-01-02T00:00:00.000Z").plan)
      if (step === "done") yield* Ref.set(w.current, name("v2"))
      yield* Ref.set(w.history, [
        { time: "2026-01-01T00:00:00.000Z", name: "v2", step: "done", result: "ok" }, // an earlier v2's
        {
          time: "2026-01-02T00:00:03.000Z",
          name: "v2",
          ...(step === "done" ? { step: "done", result: "ok" } : { step: "upgrade", result: "failed" }),
          ...(step === "rollback" ? { detail: "verify failed" } : {})
        }
      ])
      writeJournal(w, {
        step,
        started_at: "2026-01-02T00:00:00.000Z",
        reason: step === "rollback" ? "verify failed" : null
      })
      yield* startRun(w)
      yield* adjustUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      expect(yield* statusOf(w, "v2")).toBe(step === "done" ? "done" : "failed")
      return w
    })

  it.scoped("killed between the history line and the plan (done): the line and the event are not repeated", () =>
    Effect.gen(function*() {
      const w = yield* killedBeforePlan("done")
      const history = yield* Ref.get(w.history)
      expect(history.filter((r) => r.step === "done" && r.result === "ok")).toHaveLength(2) // the earlier v2's, this one's
      expect(yield* eventTypes(w)).not.toContain("upgrade-completed")
    }))

  it.scoped("killed between the history line and the plan (rollback): the line and the event are not repeated", () =>
    Effect.gen(function*() {
      const w = yield* killedBeforePlan("rollback")
      const history = yield* Ref.get(w.history)
      expect(history.filter((r) => r.step === "upgrade" && r.result === "failed")).toHaveLength(1)
      expect(history.filter((r) => r.step === "rollback" && r.result === "ok")).toHaveLength(1) // the rollback was finished
      expect(yield* eventTypes(w)).not.toContain("upgrade-failed")
    }))

  it.scoped("a replay that finds no outcome line (killed before it) records it and sends the event once", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* Ref.set(w.current, name("v2"))
      yield* Ref.set(w.history, [{ time: "2026-01-01T00:00:00.000Z", name: "v2", step: "done", result: "ok" }])
      writeJournal(w, { step: "done", started_at: "2026-01-02T00:00:00.000Z" })
      yield* startRun(w)
      yield* adjustUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      const history = yield* Ref.get(w.history)
      expect(history.filter((r) => r.step === "done" && r.result === "ok")).toHaveLength(2)
      expect(countOf(yield* eventTypes(w), "upgrade-completed")).toBe(1)
    }))

  it.scoped("a journal written by hand at verify: start, verify, done", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* Ref.set(w.current, name("v2"))
      yield* setHead(w, 100)
      writeJournal(w, { step: "verify", started_at: "t" })
      const run = yield* startRun(w)
      yield* waitLog(w, "start:v2")
      expect((yield* run.orchestrator.status).in_progress).toEqual({ name: "v2", step: "verify" })
      yield* adjustUntil("journal gone", Effect.sync(() => journalText(w) === undefined))
      expect(yield* log(w)).toEqual(["suspend", "start:v2", "resume"])
      expect(yield* statusOf(w, "v2")).toBe("done")
    }))
})

describe("Orchestrator: status", () => {
  const keys = [
    "supervisor",
    "home",
    "supervisor_pid",
    "current_height",
    "block_interval_seconds",
    "head_age_seconds",
    "node_state",
    "node_pid",
    "restarts",
    "current",
    "version",
    "pending_upgrade",
    "pending",
    "upgrading",
    "in_progress",
    "last",
    "paused",
    "upgrades_paused",
    "plan_problem",
    "proposals",
    "governance"
  ]

  it.scoped("the status object of ARCHITECTURE §6, before, during and after an upgrade", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* pushHeight(w, 90)
      yield* settle

      const before = yield* run.orchestrator.status
      const json = JSON.parse(JSON.stringify(Schema.encodeSync(StatusObject)(before))) as Record<string, unknown>
      expect(Object.keys(json)).toEqual(keys)
      expect(json).toMatchObject({
        supervisor: "running",
        current_height: 90,
        node_state: "running",
        restarts: 0,
        current: "genesis",
        version: null,
        upgrading: false,
        in_progress: null,
        last: null,
        paused: null,
        upgrades_paused: null,
        plan_problem: null
      })
      expect(typeof json.node_pid).toBe("number")
      expect(json.pending_upgrade).toMatchObject({ name: "v2", height: 100, status: "ready" })
      expect((json.pending as Array<unknown>).length).toBe(1)
      expect(Either.isRight(Schema.decodeUnknownEither(StatusObject)(json))).toBe(true)

      yield* fireV2(w, run)
      const during = yield* run.orchestrator.status
      expect(during).toMatchObject({
        upgrading: true,
        in_progress: { name: "v2", step: "verify" },
        current: "v2",
        current_height: 100
      })
      expect(during.pending_upgrade?.status).toBe("upgrading")

      yield* adjustUntil("v2 done", statusOf(w, "v2").pipe(Effect.map((s) => s === "done")))
      const after = yield* run.orchestrator.status
      expect(after).toMatchObject({
        upgrading: false,
        in_progress: null,
        pending: [],
        pending_upgrade: null,
        current: "v2"
      })
      expect(after.last).toEqual({ name: "v2", status: "done", reason: null })
    }))
  it.scoped("every pending upgrade carries its ETA from the block interval measured from the heights", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      yield* scheduleUpgrade(w, "v3", 200)
      const run = yield* startRunning(w)
      // No head yet: neither the interval nor the head's age is known.
      expect(yield* run.orchestrator.status).toMatchObject({ block_interval_seconds: null, head_age_seconds: null })
      yield* pushHeight(w, 50)
      yield* settle
      // One head seen: no interval yet, so no ETA.
      const one = yield* run.orchestrator.status
      expect(one.pending.map((u) => [u.eta, u.eta_seconds])).toEqual([
        [null, null],
        [null, null]
      ])
      expect(one).toMatchObject({ block_interval_seconds: null, head_age_seconds: 0 })
      for (let n = 51; n <= 60; n++) {
        yield* TestClock.adjust("2 seconds")
        yield* pushHeight(w, n)
        yield* settle
      }
      yield* TestClock.adjust("1 second")
      const now = yield* Clock.currentTimeMillis
      const st = yield* run.orchestrator.status
      // 2 s per block; head 60 seen 1 s ago.
      expect(st.pending.map((u) => [u.name, u.eta_seconds])).toEqual([["v2", 79], ["v3", 279]])
      expect(st.pending_upgrade?.eta).toBe(new Date(now + 79_000).toISOString().replace(/\.\d{3}Z$/, "Z"))
      // The same figures in the status: the moving average and the head's age.
      expect(st).toMatchObject({ block_interval_seconds: 2, head_age_seconds: 1 })
      yield* TestClock.adjust("1500 millis")
      expect(yield* run.orchestrator.status).toMatchObject({ block_interval_seconds: 2, head_age_seconds: 2.5 })
    }))
})

describe("Orchestrator: the test-only crash hook", () => {
  it("parses <step>:<phase>", () => {
    expect(parseCrashAt("switch:applied")).toEqual(Either.right({ step: "switch", phase: "applied" }))
    expect(parseCrashAt("rollback:journaled")).toEqual(Either.right({ step: "rollback", phase: "journaled" }))
    expect(Either.isLeft(parseCrashAt("switch"))).toBe(true)
    expect(Either.isLeft(parseCrashAt("swap:applied"))).toBe(true)
    expect(Either.isLeft(parseCrashAt("switch:done"))).toBe(true)
    expect(Either.isLeft(parseCrashAt("switch:applied:x"))).toBe(true)
  })

  it.effect("unset does nothing; a bad value is a defect", () =>
    Effect.gen(function*() {
      const hook = yield* crashHookFromEnv(undefined)
      yield* hook("switch", "applied")
      const bad = yield* Effect.exit(crashHookFromEnv("nope"))
      expect(bad._tag).toBe("Failure")
    }))
})
