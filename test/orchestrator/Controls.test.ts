/*
 * The operator's manual controls (issue #16 item 6) on the orchestrator with
 * the fakes: `node restart` (out of `error`, refused while an upgrade has the
 * node, allowed while halted) and `upgrade pause` / `resume` (a due upgrade
 * is held past its height and fires on resume; the pause outlives a restart;
 * resume never lifts wemixvisor's own pause).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Ref, TestClock } from "effect"
import * as fs from "node:fs"
import { NODE_BUSY, NODE_ENTRY, UPGRADES_ENTRY } from "../../src/orchestrator/OrchestratorLive.js"
import {
  alive,
  corruptPlan,
  log,
  makeWorld,
  pushHeight,
  scheduleUpgrade,
  settle,
  startRun,
  startRunning,
  statusOf,
  waitUntil,
  type World
} from "./fakes.js"

const REST = { door: "rest", peer: "127.0.0.1:40000" } as const
const CLI = { door: "cli" } as const

const historyOf = (w: World, n: string) => Ref.get(w.history).pipe(Effect.map((rs) => rs.filter((r) => r.name === n)))

describe("node restart", () => {
  it.scoped("brings the node back from `error` (stop, then start; the history names the door)", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      const run = yield* startRunning(w)
      // The binary cannot be spawned: the crash restart fails and supervision gives up.
      yield* Ref.set(w.spawnFails, new Set(["genesis"]))
      yield* run.crashNode(1)
      yield* waitUntil("node in error", Effect.map(run.orchestrator.status, (s) => s.node_state === "error"))
      yield* Ref.set(w.spawnFails, new Set())

      const r = yield* run.orchestrator.restartNode(REST)
      expect(r.state).toBe("running")
      expect(r.pid).not.toBeNull()
      const s = yield* run.orchestrator.status
      expect(s.node_state).toBe("running")
      expect(s.node_pid).toBe(r.pid)
      expect((yield* log(w)).slice(-3)).toEqual(["resume", "stop", "start:genesis"])
      expect(yield* Ref.get(w.violations)).toEqual([])
      const lines = yield* historyOf(w, NODE_ENTRY)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({ step: "node-restart", result: "ok", door: "rest", peer: "127.0.0.1:40000" })
    }))

  it.scoped("a binary that cannot start: answered as `error` with the reason, recorded as failed", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      const run = yield* startRunning(w)
      yield* Ref.set(w.spawnFails, new Set(["genesis"]))
      const r = yield* run.orchestrator.restartNode(CLI)
      // The real supervisor says `error` here (test/node/); the fake leaves it stopped.
      expect(r.state).not.toBe("running")
      expect(r.pid).toBeNull()
      expect(r.reason).toMatch(/exec format error/)
      expect((yield* historyOf(w, NODE_ENTRY))[0]).toMatchObject({ result: "failed", door: "cli" })
    }))

  it.scoped("refused while an upgrade has the node: nothing is stopped or started", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w, { crashAt: "switch:journaled" })
      yield* pushHeight(w, 100)
      // Frozen right after the switch was journaled: the upgrade holds the node.
      expect(yield* Deferred.await(run.crashed)).toBe("switch:journaled")
      yield* waitUntil("the upgrade is at switch", Effect.map(run.orchestrator.status, (s) => s.upgrading))
      const before = yield* log(w)
      const r = yield* Effect.either(run.orchestrator.restartNode(REST))
      expect(Either.isLeft(r)).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left._tag).toBe("UpgradeConflict")
        expect(r.left.message).toBe(NODE_BUSY)
      }
      expect(yield* log(w)).toEqual(before)
      expect(yield* historyOf(w, NODE_ENTRY)).toEqual([])
    }))

  it.scoped("allowed while halted after a failed upgrade: the previous binary starts and the halt is lifted", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld({ DAEMON_ON_UPGRADE_FAILURE: "halt" })
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      yield* pushHeight(w, 100)
      yield* waitUntil("verify under way", Effect.map(log(w), (l) => l.includes("start:v2")))
      yield* run.crashNode(1)
      yield* waitUntil("halted", Effect.map(run.orchestrator.halted, (x) => x !== null))
      expect(yield* alive(w)).toBeNull()

      const r = yield* run.orchestrator.restartNode(CLI)
      expect(r.state).toBe("running")
      expect(yield* alive(w)).toBe("genesis")
      expect(yield* run.orchestrator.halted).toBeNull()
      expect((yield* historyOf(w, NODE_ENTRY))[0]?.detail).toMatch(/halt lifted/)
    }))
})

describe("upgrade pause / resume", () => {
  it.scoped("a due upgrade is held past its height while paused, and fires at once on resume", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const run = yield* startRunning(w)
      const p = yield* run.orchestrator.pause("exchange maintenance", REST)
      expect(p).toMatchObject({ by: "rest 127.0.0.1:40000", reason: "exchange maintenance" })
      expect(JSON.parse(fs.readFileSync(w.config.layout.pauseMarker, "utf8"))).toMatchObject(p)

      yield* pushHeight(w, 100)
      yield* pushHeight(w, 105)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(yield* log(w)).toEqual(["start:genesis"])
      expect(yield* statusOf(w, "v2")).not.toBe("upgrading")
      const s = yield* run.orchestrator.status
      expect(s.upgrades_paused).toEqual(p)
      expect(s.pending.map((u) => u.name)).toEqual(["v2"])
      // wemixvisor's own pause stays its own: the operator's is a separate field.
      expect(s.paused).toBeNull()
      expect(w.logs.some((l) => l.includes("upgrade v2 reached its height 100 but upgrades are paused"))).toBe(true)

      const was = yield* run.orchestrator.resume(CLI)
      expect(was).toEqual(p)
      expect(fs.existsSync(w.config.layout.pauseMarker)).toBe(false)
      // No new height: resume itself wakes the loop.
      yield* waitUntil("v2 switched", Effect.map(log(w), (l) => l.includes("switch:v2")))
      expect((yield* run.orchestrator.status).upgrades_paused).toBeNull()
      const lines = yield* historyOf(w, UPGRADES_ENTRY)
      expect(lines.map((l) => [l.step, l.door])).toEqual([["pause", "rest"], ["resume", "cli"]])
      const types = (yield* Ref.get(w.events)).map((e) => e.type)
      expect(types.indexOf("upgrades-paused")).toBeLessThan(types.indexOf("upgrades-resumed"))
      expect(types.indexOf("upgrades-resumed")).toBeLessThan(types.indexOf("upgrade-started"))
    }))

  it.scoped("the pause outlives a restart of wemixvisor; pausing again keeps its start", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      const first = yield* startRunning(w)
      const p = yield* first.orchestrator.pause(null, CLI)
      yield* first.kill

      const second = yield* startRunning(w)
      expect((yield* second.orchestrator.status).upgrades_paused).toEqual(p)
      yield* pushHeight(w, 120)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(yield* log(w)).not.toContain("switch:v2")
      const again = yield* second.orchestrator.pause("still waiting", CLI)
      expect(again.since).toBe(p.since)
      expect(again.reason).toBe("still waiting")
    }))

  it.scoped("a marker that cannot be read is a pause, never guessed away", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* scheduleUpgrade(w, "v2", 100)
      fs.writeFileSync(w.config.layout.pauseMarker, "{ torn")
      const run = yield* startRunning(w)
      const s = yield* run.orchestrator.status
      expect(s.upgrades_paused?.reason).toMatch(/corrupt/)
      yield* pushHeight(w, 100)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(yield* log(w)).not.toContain("switch:v2")
      yield* run.orchestrator.resume(CLI)
      yield* waitUntil("v2 switched", Effect.map(log(w), (l) => l.includes("switch:v2")))
    }))

  it.scoped("resume lifts only the operator's pause, not one of wemixvisor's own (a corrupt plan)", () =>
    Effect.gen(function*() {
      const w = yield* makeWorld()
      yield* corruptPlan(w)
      const run = yield* startRun(w)
      yield* pushHeight(w, 10)
      yield* waitUntil("paused by the plan", Effect.map(run.orchestrator.paused, (x) => x !== null))
      yield* run.orchestrator.pause(null, CLI)
      expect(yield* run.orchestrator.resume(CLI)).not.toBeNull()
      yield* pushHeight(w, 11)
      yield* settle
      const s = yield* run.orchestrator.status
      expect(s.upgrades_paused).toBeNull()
      expect(s.paused).toMatch(/upgrades paused/)
      // Resuming with no operator's pause says so: nothing lifted.
      expect(yield* run.orchestrator.resume(CLI)).toBeNull()
      expect((yield* historyOf(w, UPGRADES_ENTRY)).map((l) => l.step)).toEqual(["pause", "resume"])
    }))
})
