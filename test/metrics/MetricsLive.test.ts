/*
 * The metrics derived in process (src/metrics/MetricsLive.ts): the live layer
 * over scripted events, heights, RPC reads and plan snapshots, under
 * TestClock; what a scrape shows is read from its text, as Prometheus would,
 * and linted by promtool.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as TestClock from "effect/TestClock"
import { spawnSync } from "node:child_process"
import { AppConfig, loadConfig } from "../../src/config/Config.js"
import { FileCorrupt } from "../../src/domain/Errors.js"
import { type Height, makeHeight } from "../../src/domain/Height.js"
import type { StatusObject } from "../../src/domain/Status.js"
import { type UpgradeName, UpgradePlan } from "../../src/domain/Upgrade.js"
import { type EventInput, Events, type WemixvisorEvent } from "../../src/events/Events.js"
import * as ChainPaceLive from "../../src/height/ChainPaceLive.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import type { RpcRead } from "../../src/height/RpcErrors.js"
import { Metrics } from "../../src/metrics/Metrics.js"
import * as MetricsLive from "../../src/metrics/MetricsLive.js"
import { type PlanSnapshot, UpgradeSource } from "../../src/upgrades/UpgradeSource.js"
import { cleanup, tempDir } from "../support/fixtures.js"
import { haveTools } from "../support/tools.js"
import { pendingUpgrade } from "../support/upgrades.js"

const status: StatusObject = {
  supervisor: "running",
  home: "/srv/node",
  supervisor_pid: 4141,
  current_height: null,
  block_interval_seconds: null,
  head_age_seconds: null,
  node_state: "running",
  node_pid: 4242,
  restarts: 0,
  current: "genesis",
  version: "gwemix v1",
  pending_upgrade: null,
  pending: [],
  upgrading: false,
  in_progress: null,
  last: null,
  paused: null,
  upgrades_paused: null,
  plan_problem: null,
  proposals: [],
  governance: null
}

/** The event hub, with each event stamped with the (Test)Clock's time. */
const eventsOn = (hub: PubSub.PubSub<WemixvisorEvent>) =>
  Events.of({
    publish: (input: EventInput) =>
      Effect.flatMap(Clock.currentTimeMillis, (t) =>
        PubSub.publish(hub, { ...input, time: new Date(t).toISOString() } as WemixvisorEvent)),
    subscribe: Effect.map(PubSub.subscribe(hub), Stream.fromQueue)
  })

/** A world the metrics layer watches: every input is scripted; events are stamped with the TestClock's time. */
const worldWith = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const home = yield* Effect.acquireRelease(Effect.sync(() => tempDir("wemixvisor-metrics-")), (d) =>
      Effect.sync(() => cleanup(d)))
    const config = yield* loadConfig({ env: { DAEMON_HOME: home, DAEMON_NAME: "gwemix", ...env } }).pipe(Effect.orDie)
    const hub = yield* PubSub.unbounded<WemixvisorEvent>()
    const heads = yield* SubscriptionRef.make(Option.none<Height>())
    const reads = yield* PubSub.unbounded<RpcRead>()
    const plans = yield* SubscriptionRef.make<PlanSnapshot>({
      _tag: "Valid",
      plan: new UpgradePlan({ version: 1, upgrades: [] })
    })
    const events = eventsOn(hub)
    const layer = MetricsLive.layer.pipe(
      Layer.provide(ChainPaceLive.layer),
      Layer.provide(
        Layer.mergeAll(
          Layer.succeed(AppConfig, config),
          Layer.succeed(Events, events),
          Layer.succeed(
            HeightProvider,
            HeightProvider.of({
              heights: heads.changes.pipe(Stream.filterMap((x) =>
                x
              )),
              latest: SubscriptionRef.get(heads),
              head: Effect.die("not read here"),
              rpcReads: Stream.fromPubSub(reads)
            })
          ),
          Layer.succeed(UpgradeSource, UpgradeSource.of({ plans: plans.changes }))
        )
      )
    )
    const metrics = Context.get(yield* Layer.build(layer), Metrics)
    /** Lets the metrics fiber take in what was just published. */
    const settle = Effect.repeatN(Effect.yieldNow(), 20)
    return {
      metrics,
      publish: (input: EventInput) => Effect.zipRight(events.publish(input), settle),
      head: (n: number) => Effect.zipRight(SubscriptionRef.set(heads, Option.some(makeHeight(n))), settle),
      read: (r: RpcRead) => Effect.zipRight(PubSub.publish(reads, r), settle),
      plan: (snap: PlanSnapshot) => Effect.zipRight(SubscriptionRef.set(plans, snap), settle),
      scrape: (s: StatusObject = status) => Effect.flatMap(settle, () => metrics.render(s))
    }
  })

const world = worldWith()

/** The value of one sample (`name{labels}`), as a scrape shows it; undefined when absent. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const advance = (ms: number) => TestClock.adjust(`${ms} millis`)

describe("metrics derived from heights", () => {
  it.scoped("chain head, head age (from start, then since the head moved) and the block interval as a moving average", () =>
    Effect.gen(function*() {
      const w = yield* world
      // Before any head: no head sample, age since start, no interval.
      yield* advance(5_000)
      let text = yield* w.scrape()
      expect(sample(text, "wemixvisor_chain_head")).toBeUndefined()
      expect(sample(text, "wemixvisor_chain_head_age_seconds")).toBe(5)
      expect(sample(text, "wemixvisor_block_interval_seconds")).toBeUndefined()

      yield* w.head(100)
      yield* advance(2_000)
      text = yield* w.scrape()
      expect(sample(text, "wemixvisor_chain_head")).toBe(100)
      expect(sample(text, "wemixvisor_chain_head_age_seconds")).toBe(2)
      expect(sample(text, "wemixvisor_block_interval_seconds")).toBeUndefined()

      // 2 s per block, then a jump of 3 blocks in 3 s (a slow poll): weighted by blocks, 9 s / 6 blocks.
      yield* w.head(101)
      yield* advance(2_000)
      yield* w.head(102)
      yield* advance(3_000)
      yield* w.head(105)
      text = yield* w.scrape()
      expect(sample(text, "wemixvisor_chain_head")).toBe(105)
      expect(sample(text, "wemixvisor_chain_head_age_seconds")).toBe(0)
      expect(sample(text, "wemixvisor_block_interval_seconds")).toBeCloseTo(7 / 5, 6)

      // The window moves: after 40 blocks at 1 s, the slow start has left it.
      for (let n = 106; n < 146; n++) {
        yield* advance(1_000)
        yield* w.head(n)
      }
      text = yield* w.scrape()
      expect(sample(text, "wemixvisor_block_interval_seconds")).toBeCloseTo(1, 6)
      yield* advance(12_500)
      expect(sample(yield* w.scrape(), "wemixvisor_chain_head_age_seconds")).toBe(12.5)
    }))

  it.scoped("pending upgrades: one gauge per upgrade with its status, its height and the status's ETA", () =>
    Effect.gen(function*() {
      const w = yield* world
      const text = yield* w.scrape({
        ...status,
        pending: [
          pendingUpgrade("v2", 1110, 148),
          pendingUpgrade("v3", 5000, 5983, "scheduled"),
          pendingUpgrade("v4", 9000, null, "scheduled")
        ]
      })
      expect(sample(text, "wemixvisor_upgrade_pending{name=\"v2\",status=\"ready\"}")).toBe(1)
      expect(sample(text, "wemixvisor_upgrade_pending{name=\"v3\",status=\"scheduled\"}")).toBe(1)
      expect(sample(text, "wemixvisor_upgrade_height{name=\"v2\"}")).toBe(1110)
      expect(sample(text, "wemixvisor_upgrade_eta_seconds{name=\"v2\"}")).toBe(148)
      expect(sample(text, "wemixvisor_upgrade_eta_seconds{name=\"v3\"}")).toBe(5983)
      // No ETA known: no sample (rather than a made-up one).
      expect(sample(text, "wemixvisor_upgrade_eta_seconds{name=\"v4\"}")).toBeUndefined()
      // Gone from the plan → gone from the scrape.
      const after = yield* w.scrape({ ...status, pending: [pendingUpgrade("v3", 5000, null, "preparing")] })
      expect(after).not.toMatch(/name="v2"/)
      expect(sample(after, "wemixvisor_upgrade_pending{name=\"v3\",status=\"preparing\"}")).toBe(1)
      expect(after).not.toMatch(/status="scheduled"/)
    }))
})

describe("metrics derived from events", () => {
  it.scoped("restarts and outcomes are counted from the events; node state, up and version from the status", () =>
    Effect.gen(function*() {
      const w = yield* world
      let text = yield* w.scrape()
      expect(sample(text, "wemixvisor_node_restarts_total")).toBe(0)
      expect(sample(text, "wemixvisor_upgrades_total{result=\"done\"}")).toBe(0)
      expect(sample(text, "wemixvisor_upgrades_total{result=\"failed\"}")).toBe(0)
      expect(sample(text, "wemixvisor_build_info{version=\"0.1.0\"}")).toBe(1)
      // Running, but nothing answered yet.
      expect(sample(text, "wemixvisor_node_up")).toBe(0)
      yield* w.head(7)
      text = yield* w.scrape()
      expect(sample(text, "wemixvisor_node_up")).toBe(1)
      expect(sample(text, "wemixvisor_node_state{state=\"running\"}")).toBe(1)
      expect(sample(text, "wemixvisor_node_state{state=\"crashed\"}")).toBe(0)
      expect(sample(text, "wemixvisor_node_version_info{target=\"genesis\",version=\"gwemix v1\"}")).toBe(1)

      for (let i = 1; i <= 3; i++) yield* w.publish({ type: "node-restarting", restarts: i, delay_ms: 1000 })
      // The restart count of the status (within the restart window) is not what the counter follows.
      text = yield* w.scrape({
        ...status,
        node_state: "crashed",
        restarts: 1,
        current: "v2" as UpgradeName,
        version: null
      })
      expect(sample(text, "wemixvisor_node_restarts_total")).toBe(3)
      expect(sample(text, "wemixvisor_node_up")).toBe(0)
      expect(sample(text, "wemixvisor_node_state{state=\"crashed\"}")).toBe(1)
      expect(sample(text, "wemixvisor_node_state{state=\"running\"}")).toBe(0)
      expect(sample(text, "wemixvisor_node_version_info{target=\"v2\",version=\"unknown\"}")).toBe(1)
      expect(text).not.toMatch(/target="genesis"/)

      yield* w.publish({ type: "upgrade-failed", name: "v2", reason: "verify failed" })
      yield* w.publish({ type: "rollback-completed", name: "v2", current: "genesis" })
      yield* w.publish({ type: "upgrade-completed", name: "v3", height: makeHeight(20) })
      text = yield* w.scrape()
      expect(sample(text, "wemixvisor_upgrades_total{result=\"done\"}")).toBe(1)
      expect(sample(text, "wemixvisor_upgrades_total{result=\"failed\"}")).toBe(1)
      expect(sample(text, "wemixvisor_rollbacks_total")).toBe(1)
    }))

  it.scoped("step durations from the step events' timestamps; downtime from the old node's exit to the first answer of the new one", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.head(10)
      yield* w.publish({ type: "upgrade-started", name: "v2", height: makeHeight(10), current_height: makeHeight(10) })
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "pre-stop" })
      yield* advance(100)
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "stop" })
      yield* advance(1_200)
      yield* w.publish({ type: "node-exited", pid: 1, code: 0, signal: null, expected: true })
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "switch" })
      yield* advance(50)
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "start" })
      yield* advance(10)
      yield* w.publish({ type: "node-started", pid: 2, binary: "upgrades/v2/bin/gwemix" })
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "verify" })
      yield* advance(300)
      yield* w.read({ _tag: "Failed", kind: "connection" })
      yield* advance(400)
      // The new node answers: 50 + 10 + 300 + 400 ms after the old one exited.
      yield* w.read({ _tag: "Answered" })
      yield* advance(2_000)
      yield* w.head(11)
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "done" })
      yield* advance(5)
      yield* w.publish({ type: "upgrade-completed", name: "v2", height: makeHeight(10) })

      const text = yield* w.scrape()
      const step = (s: string) => sample(text, `wemixvisor_upgrade_step_duration_seconds_sum{step="${s}"}`)
      expect(step("pre-stop")).toBeCloseTo(0.1, 6)
      expect(step("stop")).toBeCloseTo(1.2, 6)
      expect(step("switch")).toBeCloseTo(0.05, 6)
      expect(step("start")).toBeCloseTo(0.01, 6)
      expect(step("verify")).toBeCloseTo(2.7, 6)
      expect(step("done")).toBeCloseTo(0.005, 6)
      expect(sample(text, "wemixvisor_upgrade_step_duration_seconds_count{step=\"verify\"}")).toBe(1)
      expect(sample(text, "wemixvisor_upgrade_downtime_seconds_count")).toBe(1)
      expect(sample(text, "wemixvisor_upgrade_downtime_seconds_sum")).toBeCloseTo(0.76, 6)
      expect(sample(text, "wemixvisor_upgrade_downtime_seconds_bucket{le=\"0.5\"}")).toBe(0)
      expect(sample(text, "wemixvisor_upgrade_downtime_seconds_bucket{le=\"1\"}")).toBe(1)
      expect(sample(text, "wemixvisor_rpc_errors_total{kind=\"connection\"}")).toBe(1)
      expect(sample(text, "wemixvisor_rpc_errors_total{kind=\"timeout\"}")).toBe(0)
    }))

  it.scoped("a rollback: the downtime runs until the old binary answers again; a crash before the stop is not a downtime", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.publish({ type: "upgrade-started", name: "v2", height: makeHeight(10), current_height: makeHeight(10) })
      // An exit before the stop step is a crash, not the upgrade's stop.
      yield* w.publish({ type: "node-exited", pid: 1, code: 1, signal: null, expected: false })
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "stop" })
      yield* advance(1_000)
      // The old node was not running: the downtime starts at the stop step.
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "start" })
      yield* w.publish({ type: "node-started", pid: 2, binary: "upgrades/v2/bin/gwemix" })
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "verify" })
      yield* w.publish({ type: "node-exited", pid: 2, code: 1, signal: null, expected: false })
      yield* advance(4_000)
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "rollback" })
      yield* advance(1_000)
      yield* w.publish({ type: "node-started", pid: 3, binary: "genesis/bin/gwemix" })
      yield* w.publish({ type: "upgrade-failed", name: "v2", reason: "verify failed: exited" })
      yield* w.publish({ type: "rollback-completed", name: "v2", current: "genesis" })
      yield* advance(500)
      let text = yield* w.scrape()
      expect(sample(text, "wemixvisor_upgrade_downtime_seconds_count")).toBe(0)
      expect(sample(text, "wemixvisor_upgrade_step_duration_seconds_sum{step=\"rollback\"}")).toBeCloseTo(1, 6)
      yield* w.head(12)
      text = yield* w.scrape()
      expect(sample(text, "wemixvisor_upgrade_downtime_seconds_count")).toBe(1)
      expect(sample(text, "wemixvisor_upgrade_downtime_seconds_sum")).toBeCloseTo(6.5, 6)
      // Heights later do not add another.
      yield* advance(1_000)
      yield* w.head(13)
      expect(sample(yield* w.scrape(), "wemixvisor_upgrade_downtime_seconds_count")).toBe(1)
    }))

  it.scoped("plan problem follows the plan snapshots: 1 while corrupt, 0 once valid again", () =>
    Effect.gen(function*() {
      const w = yield* world
      expect(sample(yield* w.scrape(), "wemixvisor_plan_problem")).toBe(0)
      yield* w.plan({
        _tag: "Corrupt",
        error: new FileCorrupt({ path: "/srv/node/wemixvisor/upgrade-plan.json", problem: "not JSON" })
      })
      expect(sample(yield* w.scrape(), "wemixvisor_plan_problem")).toBe(1)
      yield* w.plan({ _tag: "Valid", plan: new UpgradePlan({ version: 1, upgrades: [] }) })
      expect(sample(yield* w.scrape(), "wemixvisor_plan_problem")).toBe(0)
    }))

  it.scoped("upgrades_paused is 1 while the status has the operator's pause, 0 otherwise", () =>
    Effect.gen(function*() {
      const w = yield* world
      expect(sample(yield* w.scrape(), "wemixvisor_upgrades_paused")).toBe(0)
      const paused = { ...status, upgrades_paused: { by: "cli", since: "2026-12-03T00:00:00.000Z", reason: null } }
      expect(sample(yield* w.scrape(paused), "wemixvisor_upgrades_paused")).toBe(1)
      expect(sample(yield* w.scrape(), "wemixvisor_upgrades_paused")).toBe(0)
    }))

  it.scoped("the governance source: its cursor and whether it follows; both absent while it is off", () =>
    Effect.gen(function*() {
      const w = yield* world
      const off = yield* w.scrape()
      expect(sample(off, "wemixvisor_governance_block")).toBeUndefined()
      expect(sample(off, "wemixvisor_governance_up")).toBeUndefined()
      const registry = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
      const following = { ...status, governance: { registry, confirmations: 5, block: 1200, error: null } }
      expect(sample(yield* w.scrape(following), "wemixvisor_governance_block")).toBe(1200)
      expect(sample(yield* w.scrape(following), "wemixvisor_governance_up")).toBe(1)
      const failing = { ...status, governance: { ...following.governance, error: "the node's RPC does not answer" } }
      expect(sample(yield* w.scrape(failing), "wemixvisor_governance_up")).toBe(0)
      const unread = { ...status, governance: { ...following.governance, block: null, error: "source off: corrupt" } }
      expect(sample(yield* w.scrape(unread), "wemixvisor_governance_block")).toBeUndefined()
      expect(sample(yield* w.scrape(), "wemixvisor_governance_up")).toBeUndefined()
    }))

  it.scoped("warnings are counted by kind; chain_stalled follows WEMIXVISOR_STALL_AFTER", () =>
    Effect.gen(function*() {
      const w = yield* worldWith({ WEMIXVISOR_STALL_AFTER: "30s" })
      let text = yield* w.scrape()
      for (const kind of ["node-stalled", "upgrade-soon", "height-passed-blind"]) {
        expect(sample(text, `wemixvisor_warnings_total{kind="${kind}"}`)).toBe(0)
      }
      yield* w.head(100)
      yield* advance(30_000)
      expect(sample(yield* w.scrape(), "wemixvisor_chain_stalled")).toBe(0)
      yield* advance(1_000)
      expect(sample(yield* w.scrape(), "wemixvisor_chain_stalled")).toBe(1)
      yield* w.publish({ type: "node-stalled", head: makeHeight(100), seconds: 31, hint: null, message: "stalled" })
      yield* w.head(101)
      text = yield* w.scrape()
      expect(sample(text, "wemixvisor_chain_stalled")).toBe(0)
      expect(sample(text, "wemixvisor_warnings_total{kind=\"node-stalled\"}")).toBe(1)
      expect(sample(text, "wemixvisor_warnings_total{kind=\"upgrade-soon\"}")).toBe(0)
    }))
})

describe("the exposition", () => {
  const lint = haveTools(["promtool"], "prometheus")

  it.scoped("every metric of docs/METRICS.md with its type, the process metrics, and no promtool finding", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.head(1)
      yield* advance(1_000)
      yield* w.head(2)
      yield* w.publish({ type: "upgrade-started", name: "v2", height: makeHeight(2), current_height: makeHeight(2) })
      yield* w.publish({ type: "upgrade-step", name: "v2", step: "stop" })
      yield* w.read({ _tag: "Failed", kind: "timeout" })
      const text = yield* w.scrape({
        ...status,
        pending: [pendingUpgrade("v2", 2, null, "upgrading")],
        upgrading: true
      })
      const types = new Map(
        text.split("\n").flatMap((l) => {
          const m = /^# TYPE (\S+) (\S+)$/.exec(l)
          return m ? [[m[1]!, m[2]!] as const] : []
        })
      )
      expect(Object.fromEntries([...types].filter(([name]) => name.startsWith("wemixvisor_")))).toEqual({
        wemixvisor_build_info: "gauge",
        wemixvisor_node_state: "gauge",
        wemixvisor_node_up: "gauge",
        wemixvisor_node_restarts_total: "counter",
        wemixvisor_node_version_info: "gauge",
        wemixvisor_chain_head: "gauge",
        wemixvisor_chain_head_age_seconds: "gauge",
        wemixvisor_block_interval_seconds: "gauge",
        wemixvisor_upgrade_pending: "gauge",
        wemixvisor_upgrade_height: "gauge",
        wemixvisor_upgrade_eta_seconds: "gauge",
        wemixvisor_upgrades_total: "counter",
        wemixvisor_rollbacks_total: "counter",
        wemixvisor_upgrade_step_duration_seconds: "histogram",
        wemixvisor_upgrade_downtime_seconds: "histogram",
        wemixvisor_warnings_total: "counter",
        wemixvisor_chain_stalled: "gauge",
        wemixvisor_rpc_errors_total: "counter",
        wemixvisor_plan_problem: "gauge",
        wemixvisor_upgrades_paused: "gauge",
        wemixvisor_governance_block: "gauge",
        wemixvisor_governance_up: "gauge",
        wemixvisor_notifications_total: "counter"
      })
      for (
        const name of [
          "process_resident_memory_bytes",
          "process_cpu_seconds_total",
          "process_start_time_seconds",
          "process_open_fds"
        ]
      ) {
        expect(types.has(name), name).toBe(true)
      }
      expect(text).not.toMatch(/^nodejs_active_\w+_total/m)
      if (lint) {
        const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
        expect(`${r.stdout}${r.stderr}`).toBe("")
        expect(r.status).toBe(0)
      }
    }))
})
