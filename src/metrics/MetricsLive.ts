import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client"
import { AppConfig } from "../config/Config.js"
import { NodeState } from "../domain/Node.js"
import type { StatusObject } from "../domain/Status.js"
import { Events, type WemixvisorEvent } from "../events/Events.js"
import { ChainPace } from "../height/ChainPace.js"
import { HeightProvider } from "../height/HeightProvider.js"
import * as Pace from "../height/Pace.js"
import { RPC_ERROR_KINDS, type RpcRead } from "../height/RpcErrors.js"
import { UpgradeSource } from "../upgrades/UpgradeSource.js"
import { VERSION } from "../version.js"
import * as Derive from "./Derive.js"
import { Metrics, NOTIFY_RESULTS } from "./Metrics.js"

/*
 * The metrics of docs/METRICS.md with prom-client (kept: one small package, the
 * exact names and types the contract gives, and the process metrics
 * Prometheus clients export by default; docs/METRICS.md has the comparison
 * with Effect's Metric over OpenTelemetry).
 *
 * Counters and histograms follow the event stream, the heights and the RPC
 * reads, one fiber each; every input goes through one atomic Ref.modify, so
 * they are taken in arrival order. (One fiber over a Stream.mergeAll of the
 * three cost an idle supervisor more: a queue hand-off per height.) Gauges of the node and the plan are
 * set from the status object at each scrape: a scrape costs one status read
 * and one rendering, whatever the history.
 */

/** prom-client's defaults that `promtool check metrics` flags (gauges named `_total`). */
const LINT_FAILING_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total"
]

/**
 * prom-client samples the event loop delay on a timer of this period
 * (its default, 10 ms, wakes an idle supervisor 100 times a second).
 */
const EVENT_LOOP_SAMPLE_MS = 1000

/** The warning events, counted by kind. */
const WARNING_KINDS = ["node-stalled", "upgrade-soon", "height-passed-blind"] as const

export const STEP_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
export const DOWNTIME_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800]

const makeRegistry = () => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name)
  const registers = [registry]
  const gauge = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L> = []) =>
    new Gauge<L>({ name, help, labelNames, registers })
  const counter = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L> = []) =>
    new Counter<L>({ name, help, labelNames, registers })
  const m = {
    buildInfo: gauge("wemixvisor_build_info", "wemixvisor's release (always 1).", ["version"]),
    nodeState: gauge("wemixvisor_node_state", "1 for the node's current state, 0 for the others.", ["state"]),
    nodeUp: gauge("wemixvisor_node_up", "1 while the node is running and answering RPC, else 0."),
    nodeRestarts: counter("wemixvisor_node_restarts_total", "Crash restarts of the node."),
    nodeVersionInfo: gauge(
      "wemixvisor_node_version_info",
      "What `current` points at and that binary's version (always 1).",
      [
        "target",
        "version"
      ]
    ),
    chainHead: gauge("wemixvisor_chain_head", "The last chain head seen (block height)."),
    chainHeadAge: gauge(
      "wemixvisor_chain_head_age_seconds",
      "Seconds since the chain head last moved (since start before the first head)."
    ),
    blockInterval: gauge(
      "wemixvisor_block_interval_seconds",
      "Measured seconds per block (moving average over the last 32 heads)."
    ),
    upgradePending: gauge("wemixvisor_upgrade_pending", "1 for each pending upgrade, with its status.", [
      "name",
      "status"
    ]),
    upgradeHeight: gauge("wemixvisor_upgrade_height", "The height of each pending upgrade.", ["name"]),
    upgradeEta: gauge("wemixvisor_upgrade_eta_seconds", "Estimated seconds until each pending upgrade's height.", [
      "name"
    ]),
    upgrades: counter("wemixvisor_upgrades_total", "Upgrades that ended, by result.", ["result"]),
    rollbacks: counter("wemixvisor_rollbacks_total", "Rollbacks to the previous binary after a failed upgrade."),
    stepDuration: new Histogram<"step">({
      name: "wemixvisor_upgrade_step_duration_seconds",
      help: "Duration of each upgrade step.",
      labelNames: ["step"],
      buckets: STEP_BUCKETS,
      registers
    }),
    downtime: new Histogram({
      name: "wemixvisor_upgrade_downtime_seconds",
      help: "Seconds from the old node stopping to a node answering RPC again, per upgrade.",
      buckets: DOWNTIME_BUCKETS,
      registers
    }),
    rpcErrors: counter("wemixvisor_rpc_errors_total", "Failed reads of the node's JSON-RPC, by kind.", ["kind"]),
    planProblem: gauge(
      "wemixvisor_plan_problem",
      "1 while the plan file is corrupt or missing (the last valid plan is acted on), else 0."
    ),
    upgradesPaused: gauge(
      "wemixvisor_upgrades_paused",
      "1 while the operator has paused upgrades (`wemixvisor upgrade pause`: none fires until resume), else 0."
    ),
    governanceBlock: gauge(
      "wemixvisor_governance_block",
      "The last block whose registry events the governance source has applied (absent while the source is off)."
    ),
    governanceUp: gauge(
      "wemixvisor_governance_up",
      "1 while the governance source follows the registry, 0 while its steps fail (absent while it is off)."
    ),
    notifications: counter("wemixvisor_notifications_total", "Notifications sent, by channel and result.", [
      "channel",
      "result"
    ]),
    warnings: counter(
      "wemixvisor_warnings_total",
      "Warnings given (node-stalled, upgrade-soon, height-passed-blind).",
      [
        "kind"
      ]
    ),
    chainStalled: gauge(
      "wemixvisor_chain_stalled",
      "1 while the head has not moved for WEMIXVISOR_STALL_AFTER (default max(60 s, 10 block intervals)), else 0."
    )
  }
  m.buildInfo.set({ version: VERSION }, 1)
  // Zero from the start, so rate() and increase() see the first one.
  for (const result of ["done", "failed"]) m.upgrades.inc({ result }, 0)
  for (const kind of RPC_ERROR_KINDS) m.rpcErrors.inc({ kind }, 0)
  for (const kind of WARNING_KINDS) m.warnings.inc({ kind }, 0)
  m.planProblem.set(0)
  return { registry, m }
}

type Input =
  | { readonly _tag: "Event"; readonly event: WemixvisorEvent }
  | { readonly _tag: "Head"; readonly height: number }
  | { readonly _tag: "Read"; readonly read: RpcRead }

interface Observed {
  /** The last RPC read answered (a height, or an answer after failures). */
  readonly answering: boolean
  readonly timeline: Derive.Timeline
}

const eventTime = (event: WemixvisorEvent, fallback: number) => {
  const t = Date.parse(event.time)
  return Number.isNaN(t) ? fallback : t
}

export const make = Effect.gen(function*() {
  const events = yield* Events
  const heights = yield* HeightProvider
  const source = yield* UpgradeSource
  const pace = yield* ChainPace
  const config = yield* AppConfig
  const { m, registry } = makeRegistry()
  for (const channel of config.notify) {
    for (const result of NOTIFY_RESULTS) m.notifications.inc({ channel: channel.name, result }, 0)
  }

  const state = yield* Ref.make<Observed>({
    answering: false,
    timeline: Derive.initialTimeline
  })

  const apply = (observations: ReadonlyArray<Derive.Observation>) => {
    for (const o of observations) {
      if (o._tag === "Step") m.stepDuration.observe({ step: o.step }, o.seconds)
      else m.downtime.observe(o.seconds)
    }
  }

  const count = (event: WemixvisorEvent) => {
    switch (event.type) {
      case "node-restarting":
        return m.nodeRestarts.inc()
      case "upgrade-completed":
        return m.upgrades.inc({ result: "done" })
      case "upgrade-failed":
        return m.upgrades.inc({ result: "failed" })
      case "rollback-completed":
        return m.rollbacks.inc()
      case "node-stalled":
      case "upgrade-soon":
      case "height-passed-blind":
        return m.warnings.inc({ kind: event.type })
    }
  }

  /** The next state and what to observe, from one input at `now`; pure, so the one fiber applies it afterwards. */
  const step = (s: Observed, input: Input, now: number): readonly [ReadonlyArray<Derive.Observation>, Observed] => {
    switch (input._tag) {
      case "Event": {
        const [timeline, observed] = Derive.onEvent(s.timeline, input.event, eventTime(input.event, now))
        return [observed, { ...s, timeline }]
      }
      case "Head": {
        const [timeline, observed] = Derive.onAnswer(s.timeline, now)
        return [observed, { answering: true, timeline }]
      }
      case "Read": {
        if (input.read._tag === "Failed") return [[], { ...s, answering: false }]
        const [timeline, observed] = Derive.onAnswer(s.timeline, now)
        return [observed, { ...s, answering: true, timeline }]
      }
    }
  }

  const handle = (input: Input) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const observed = yield* Ref.modify(state, (s) => step(s, input, now))
      if (input._tag === "Event") count(input.event)
      if (input._tag === "Read" && input.read._tag === "Failed") m.rpcErrors.inc({ kind: input.read.kind })
      apply(observed)
    })

  // Subscribed here, before the layer is built, so no event published after it is missed.
  const eventStream = yield* events.subscribe
  yield* eventStream.pipe(Stream.runForEach((event) => handle({ _tag: "Event", event })), Effect.forkScoped)
  yield* heights.heights.pipe(Stream.runForEach((height) => handle({ _tag: "Head", height })), Effect.forkScoped)
  if (heights.rpcReads) {
    yield* heights.rpcReads.pipe(Stream.runForEach((read) => handle({ _tag: "Read", read })), Effect.forkScoped)
  }
  yield* source.plans.pipe(
    Stream.runForEach((snap) => Effect.sync(() => m.planProblem.set(snap._tag === "Valid" ? 0 : 1))),
    Effect.forkScoped
  )

  const refresh = (status: StatusObject) =>
    Effect.gen(function*() {
      const p = yield* pace.now
      const s = yield* Ref.get(state)
      for (const st of NodeState.literals) m.nodeState.set({ state: st }, status.node_state === st ? 1 : 0)
      m.nodeUp.set(status.node_state === "running" && s.answering ? 1 : 0)
      m.upgradesPaused.set(status.upgrades_paused === null ? 0 : 1)
      m.nodeVersionInfo.reset()
      m.nodeVersionInfo.set({ target: status.current, version: status.version ?? "unknown" }, 1)

      const head = Option.getOrElse(p.head, () => status.current_height)
      if (head === null) m.chainHead.remove()
      else m.chainHead.set(head)
      m.chainHeadAge.set(Pace.headAgeSeconds(p))
      m.chainStalled.set(Pace.isStalled(p, config.stallAfter) ? 1 : 0)
      if (Option.isSome(p.interval)) m.blockInterval.set(p.interval.value)
      else m.blockInterval.remove()

      const g = status.governance
      if (g === null || g.block === null) m.governanceBlock.remove()
      else m.governanceBlock.set(g.block)
      if (g === null) m.governanceUp.remove()
      else m.governanceUp.set(g.error === null ? 1 : 0)

      m.upgradePending.reset()
      m.upgradeHeight.reset()
      m.upgradeEta.reset()
      for (const u of status.pending) {
        m.upgradePending.set({ name: u.name, status: u.status }, 1)
        m.upgradeHeight.set({ name: u.name }, u.height)
        // The status's own estimate, so the metric and `upgrade list` agree.
        if (u.eta_seconds !== null) m.upgradeEta.set({ name: u.name }, u.eta_seconds)
      }
    })

  return Metrics.of({
    contentType: registry.contentType,
    render: (status) =>
      refresh(status).pipe(
        Effect.zipRight(Effect.promise(() => registry.metrics())),
        Effect.withSpan("Metrics.render")
      ),
    notified: (channel, result) => Effect.sync(() => m.notifications.inc({ channel, result }))
  })
})

/** Live: the metrics of one supervisor, for the life of the layer. */
export const layer: Layer.Layer<Metrics, never, AppConfig | Events | HeightProvider | ChainPace | UpgradeSource> = Layer
  .scoped(
    Metrics,
    make
  )
