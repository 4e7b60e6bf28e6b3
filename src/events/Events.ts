import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Height } from "../domain/Height.js"

/*
 * Events (ARCHITECTURE §7): published once on a PubSub; the log, WatchEvents and SSE
 * all read the same sequence. Type names are kebab case and keep their fields.
 */

const E = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({ type: Schema.Literal(type), time: Schema.String, ...fields })

const Name = Schema.String
const Nullable = <S extends Schema.Schema.Any>(s: S) => Schema.NullOr(s)

export const WemixvisorEvent = Schema.Union(
  E("upgrade-scheduled", { name: Name, height: Height }),
  E("upgrade-cancelled", { name: Name }),
  E("upgrade-preparing", { name: Name }),
  E("upgrade-ready", { name: Name }),
  E("upgrade-problem", { name: Name, reason: Schema.String }),
  E("upgrade-started", { name: Name, height: Height, current_height: Height }),
  E("upgrade-step", { name: Name, step: Schema.String }),
  E("upgrade-completed", { name: Name, height: Height }),
  E("upgrade-failed", { name: Name, reason: Schema.String }),
  E("rollback-completed", { name: Name, current: Schema.String }),
  E("node-started", { pid: Schema.Number, binary: Schema.String }),
  // A node left running by a previous wemixvisor, supervised from now on (not restarted).
  E("node-adopted", { pid: Schema.Number, binary: Schema.String }),
  E("node-exited", {
    pid: Schema.Number,
    code: Nullable(Schema.Number),
    signal: Nullable(Schema.String),
    expected: Schema.Boolean
  }),
  E("node-restarting", { restarts: Schema.Number, delay_ms: Schema.Number }),
  E("node-error", { reason: Schema.String }),
  E("height-reorg", { from: Height, to: Height }),
  E("plan-invalid", { path: Schema.String, reason: Schema.String }),
  /** A deleted plan file re-created from the last valid plan a running supervisor read. */
  E("plan-restored", { path: Schema.String, upgrades: Schema.Number }),
  // Warnings (docs/METRICS.md): `message` is the sentence the log line says.
  /** The head has not moved for WEMIXVISOR_STALL_AFTER (default max(60 s, 10 block intervals)). */
  E("node-stalled", { head: Height, seconds: Schema.Number, hint: Nullable(Schema.String), message: Schema.String }),
  /** A pending upgrade's ETA crossed 24 h, 1 h or 10 min; whether its binary is ready. */
  E("upgrade-soon", {
    name: Name,
    height: Height,
    eta: Schema.String,
    eta_seconds: Schema.Number,
    within: Schema.Literal("24h", "1h", "10m"),
    ready: Schema.Boolean,
    problem: Nullable(Schema.String),
    message: Schema.String
  }),
  /** The config file was read again (a change, or SIGHUP): what took effect, and what waits for a restart. */
  E("config-reloaded", {
    trigger: Schema.String,
    changed: Schema.Array(Schema.String),
    needs_restart: Schema.Array(Schema.String),
    message: Schema.String
  }),
  /** A new configuration was refused as a whole; the running one is kept. */
  E("config-invalid", { trigger: Schema.String, reason: Schema.String, message: Schema.String }),
  /** The operator paused upgrades (`upgrade pause`): none fires until `upgrade resume`. */
  E("upgrades-paused", { by: Schema.String, reason: Nullable(Schema.String), message: Schema.String }),
  /** The operator's pause was lifted; a due upgrade fires at once. */
  E("upgrades-resumed", { by: Schema.String, message: Schema.String }),
  /** Sent only by `wemixvisor notify test`, straight to each channel (never published here). */
  E("notify-test", { message: Schema.String }),
  /** An upgrade fired more than one block past its height because the heights could not be read. */
  E("height-passed-blind", {
    name: Name,
    height: Height,
    current_height: Height,
    blind_seconds: Schema.Number,
    message: Schema.String
  }),
  // Governor proposals that call the registry (ProposalsLive.ts): shown before they decide anything.
  // `id` is the uint256 proposal id and vote weights are token units, all decimal strings; `actions` says its registry calls.
  /** A proposal calling the registry was seen for the first time. */
  E("proposal-created", {
    id: Schema.String,
    names: Schema.Array(Name),
    actions: Schema.String,
    vote_start: Schema.Number,
    vote_end: Schema.Number
  }),
  /** A tracked proposal's votes changed; `quorum` null before its snapshot block. */
  E("proposal-vote", {
    id: Schema.String,
    for: Schema.String,
    against: Schema.String,
    abstain: Schema.String,
    quorum: Nullable(Schema.String)
  }),
  E("proposal-succeeded", { id: Schema.String, actions: Schema.String }),
  E("proposal-queued", { id: Schema.String, actions: Schema.String }),
  E("proposal-executed", { id: Schema.String, actions: Schema.String }),
  E("proposal-defeated", { id: Schema.String, actions: Schema.String }),
  E("proposal-canceled", { id: Schema.String, actions: Schema.String })
)
export type WemixvisorEvent = typeof WemixvisorEvent.Type
export type EventType = WemixvisorEvent["type"]

/** An event without its timestamp, as publishers build it. */
export type EventInput = WemixvisorEvent extends infer U ? (U extends { time: string } ? Omit<U, "time"> : never)
  : never

export class Events extends Context.Tag("wemixvisor/Events")<
  Events,
  {
    readonly publish: (event: EventInput) => Effect.Effect<void>
    /** Every event published after the subscription starts, in order. */
    readonly subscribe: Effect.Effect<Stream.Stream<WemixvisorEvent>, never, Scope.Scope>
  }
>() {}

/** How much an event needs a person: its log level, and the notifications' minimum severity filter. */
export type Severity = "info" | "warning" | "error"
export const SEVERITIES: ReadonlyArray<Severity> = ["info", "warning", "error"]

/** Every event type, in the order of the union above. */
export const EVENT_TYPES: ReadonlyArray<EventType> = WemixvisorEvent.members.map((m) => m.fields.type.literals[0])

export const severityOf = (event: WemixvisorEvent): Severity => {
  switch (event.type) {
    case "node-error":
    case "upgrade-failed":
    case "plan-invalid":
    case "config-invalid":
      return "error"
    case "upgrade-problem":
    case "plan-restored":
    case "node-stalled":
    case "height-passed-blind":
    case "height-reorg":
    case "node-restarting":
    case "upgrades-paused": // deliberate, but no upgrade fires while it lasts
    case "rollback-completed": // the old binary again, which may not follow the chain past the fork
      return "warning"
    case "node-exited":
      // a stop wemixvisor asked for is routine; anything else is worth a look
      return event.expected ? "info" : "warning"
    case "upgrade-soon":
      // a binary not ready as its fork comes near is an alarm; a ready one, news
      return event.ready ? "info" : "warning"
    default:
      return "info"
  }
}

const logAt = { info: Effect.logInfo, warning: Effect.logWarning, error: Effect.logError } as const

/** Live: an unbounded PubSub (events are rare; a slow SSE client must not block the orchestrator). */
export const layer: Layer.Layer<Events> = Layer.scoped(
  Events,
  Effect.gen(function*() {
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<WemixvisorEvent>(), PubSub.shutdown)
    return Events.of({
      publish: (input) =>
        Effect.gen(function*() {
          const event = { ...input, time: new Date().toISOString() } as WemixvisorEvent
          const { type, time: _time, ...fields } = event
          // A warning's line says its sentence; every other event's, its type.
          const line = "message" in event ? `${type}: ${event.message}` : type
          yield* logAt[severityOf(event)](line).pipe(Effect.annotateLogs({ event: type, ...fields }))
          yield* PubSub.publish(hub, event)
        }),
      subscribe: PubSub.subscribe(hub).pipe(Effect.map(Stream.fromQueue))
    })
  })
)
